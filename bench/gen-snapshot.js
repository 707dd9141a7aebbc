'use strict';
// Benchmark input generator: builds a realistic service heap (a CRM-style cache
// of class instances, plain objects of several shapes, strings, arrays, Maps and
// closures) sized so the written .heapsnapshot is about --size-mb, and writes it
// with v8.writeHeapSnapshot.
//
//   node bench/gen-snapshot.js --size-mb 200 --out bench/out/heap-200.heapsnapshot
//   node bench/gen-snapshot.js --triple --size-mb 300 --out bench/out/triple
//        (writes triple/s0..s2.heapsnapshot of ONE process; a request log leaks
//         --leak-requests records per rung; node ids are stable across the three)
//
// Big heaps need a big old space, e.g. `node --max-old-space-size=16000` for
// 1 GB (the snapshot writer peaks at many times the heap; see PROTOCOL.md).
// Sizing: two small calibration snapshots measure bytes per unit, then the heap
// is grown to the target; expect the result within a few % of --size-mb.
// Prints one JSON line: {"files":[...],"bytes":[...],"nodes":[...],"seconds":N}.

const fs = require('fs');
const os = require('os');
const path = require('path');
const v8 = require('v8');

function parseArgs(argv) {
  const o = { sizeMb: null, out: null, triple: false, leakRequests: 20000, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--size-mb': o.sizeMb = Number(argv[++i]); break;
      case '--out': o.out = argv[++i]; break;
      case '--triple': o.triple = true; break;
      case '--leak-requests': o.leakRequests = Number(argv[++i]); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!(o.sizeMb > 0) || !o.out) {
    process.stderr.write('usage: gen-snapshot.js --size-mb S --out FILE | --triple --size-mb S --out DIR [--leak-requests N]\n');
    process.exit(2);
  }
  return o;
}

// ---- the "service" heap -------------------------------------------------------

const CITIES = ['Berlin', 'Lisbon', 'Oslo', 'Austin', 'Osaka', 'Lyon', 'Leeds', 'Turin', 'Graz', 'Porto'];
const TAGS = ['vip', 'eu', 'us', 'trial', 'churn-risk', 'b2b', 'newsletter', 'beta'];
const SKUS = Array.from({ length: 500 }, (_, i) => `SKU-${(i * 7919).toString(36).toUpperCase()}`);

class Customer {
  constructor(id, name, email, address) {
    this.id = id;
    this.name = name;
    this.email = email;
    this.address = address;
    this.tags = [];
    this.orders = [];
    this.prefs = new Map();
    this.onChange = null;
  }
}

class Order {
  constructor(id, customerId, lines) {
    this.id = id;
    this.customerId = customerId;
    this.lines = lines;
    this.status = 'paid';
    this.note = null;
  }
}

const customers = new Map(); // id -> Customer
const sessions = []; // plain {userId, role, token, lastSeen}
const auditIndex = {}; // dictionary-mode object: key -> [..]
let units = 0;

function addUnit() {
  const i = units++;
  const address = { street: `${i % 997} Main St`, city: CITIES[i % CITIES.length], zip: String(10000 + (i % 89999)) };
  const c = new Customer(i, `Customer ${i}`, `user${i}@example.com`, address);
  c.tags.push(TAGS[i % TAGS.length], TAGS[(i >> 3) % TAGS.length]);
  const orderCount = 1 + (i % 3);
  for (let k = 0; k < orderCount; k++) {
    const lines = [{ sku: SKUS[(i + k) % SKUS.length], qty: 1 + k, price: 9.99 + k }];
    if (k % 2 === 0) lines.push({ sku: SKUS[(i * 3 + k) % SKUS.length], qty: 2, price: 4.5 });
    const o = new Order(i * 4 + k, i, lines);
    if ((i + k) % 5 === 0) o.note = `gift wrap for ${c.name}`;
    c.orders.push(o);
  }
  c.prefs.set('lang', i % 2 ? 'en' : 'de');
  c.prefs.set('theme', i % 3 ? 'dark' : 'light');
  c.onChange = (field) => { c.lastChanged = field; };
  customers.set(i, c);
  if (i % 4 === 0) sessions.push({ userId: i, role: i % 40 === 0 ? 'admin' : 'user', token: `tok_${(i * 2654435761 >>> 0).toString(16)}`, lastSeen: Date.now() });
  if (i % 10 === 0) auditIndex[`cust:${i}`] = [c.orders[0].id, 'created'];
}

function growTo(n) {
  while (units < n) addUnit();
}

// ---- the leak, for --triple ------------------------------------------------------

const requestLog = new Map(); // never pruned: the leak
let nextRequest = 1;

function handleRequest(req) {
  const id = `req_${(nextRequest++).toString(36)}`;
  requestLog.set(id, { id, route: req.route, body: req.body, at: Date.now() });
  // Garbage per request, as a real handler makes.
  const parsed = JSON.parse(req.body);
  return JSON.stringify({ ok: true, items: parsed.items.map((x) => x * 2) });
}

function serve(count) {
  for (let k = 0; k < count; k++) {
    const n = nextRequest;
    handleRequest({ route: n % 3 ? '/api/orders' : '/api/cart', body: `{"items":[${n % 97},${n % 13}],"user":${n % 5000}}` });
  }
}

// ---- snapshot helpers ------------------------------------------------------------

function snapshot(file) {
  global.gc && global.gc();
  v8.writeHeapSnapshot(file);
  return fs.statSync(file).size;
}

function nodeCount(file) {
  // node_count sits in the first few hundred bytes.
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4096);
  fs.readSync(fd, buf, 0, buf.length, 0);
  fs.closeSync(fd);
  const m = /"node_count":(\d+)/.exec(buf.toString('latin1'));
  return m ? Number(m[1]) : null;
}

function calibrate(tmpDir) {
  // bytes per unit from two small snapshots of this process.
  const a = path.join(tmpDir, 'cal-a.heapsnapshot');
  const b = path.join(tmpDir, 'cal-b.heapsnapshot');
  growTo(500);
  const sa = snapshot(a);
  growTo(2500);
  const sb = snapshot(b);
  fs.unlinkSync(a);
  fs.unlinkSync(b);
  return { perUnit: (sb - sa) / 2000, at: sb };
}

// Grows the heap so the next snapshot is about `target` bytes. Big targets take
// one intermediate snapshot at ~30% to correct the per-unit estimate (ids and
// strings get longer as the heap grows, so small calibrations undershoot).
function growToBytes(target, cal, tmpDir) {
  let { perUnit, at } = cal;
  if (target > 50e6) {
    const mid = path.join(tmpDir, 'cal-mid.heapsnapshot');
    const before = units;
    growTo(units + Math.max(0, Math.round((0.3 * target - at) / perUnit)));
    const size = snapshot(mid);
    fs.unlinkSync(mid);
    perUnit = (size - at) / Math.max(1, units - before);
    at = size;
  }
  growTo(units + Math.max(0, Math.round((target - at) / perUnit)));
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = process.hrtime.bigint();
  const target = o.sizeMb * 1e6;
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lc-gen-'));
  const cal = calibrate(tmpDir);

  const files = [];
  if (!o.triple) {
    fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
    growToBytes(target, cal, tmpDir);
    snapshot(o.out);
    files.push(o.out);
  } else {
    fs.mkdirSync(o.out, { recursive: true });
    // The three snapshots should average --size-mb; the leak adds on top of s0.
    serve(1000); // warm-up: handler compiled, log non-empty
    // Each leaked record is ~4 nodes and ~300 B of snapshot; s1 sits mid-way.
    growToBytes(target - o.leakRequests * 300, cal, tmpDir);
    for (let r = 0; r <= 2; r++) {
      if (r > 0) serve(o.leakRequests);
      const file = path.join(o.out, `s${r}.heapsnapshot`);
      snapshot(file);
      files.push(file);
    }
  }
  fs.rmSync(tmpDir, { recursive: true, force: true });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const bytes = files.map((f) => fs.statSync(f).size);
  const nodes = files.map(nodeCount);
  process.stdout.write(JSON.stringify({ files: files.map((f) => path.resolve(f)), bytes, nodes, units, leakRecords: requestLog.size, seconds: Math.round(seconds * 10) / 10 }) + '\n');
}

main();
