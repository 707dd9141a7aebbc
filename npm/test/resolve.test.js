// Unit tests of how the npm launcher picks the native binary (npm/leakcheck/lib/): every
// platform of the table, the musl fallback, and the errors a user sees on a platform without
// a binary, with the platform package missing, or with mismatched versions. Run with
// `node --test npm/test/` (tests/npm_package.rs runs them in `cargo test`; the real install
// from the tarballs is tested there).
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { test } = require("node:test");

const { PLATFORMS, candidates, packageName, binaryFile, byKey, describeHost } = require("../leakcheck/lib/platforms");
const { LauncherError, resolveBinary, offeredKeys } = require("../leakcheck/lib/resolve");

const VERSION = "1.2.3";
const ALL = Object.fromEntries(PLATFORMS.map((p) => [packageName(p.key), VERSION]));

/** A node_modules with the given platform packages installed (key -> version), in a temp dir. */
function installed(packages) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "leakcheck-resolve-"));
  const paths = new Map();
  for (const [key, version] of Object.entries(packages)) {
    const dir = path.join(root, "node_modules", "@leakcheck", key);
    const file = path.join(dir, binaryFile(byKey(key)));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "#!/bin/sh\n", { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: packageName(key), version }));
    paths.set(packageName(key), path.join(dir, "package.json"));
  }
  return { root, resolvePackageJson: (name) => paths.get(name) || null };
}

function resolve(host, packages, { optional = ALL, env = {} } = {}) {
  const { resolvePackageJson } = installed(packages);
  return resolveBinary({ host, ownPackage: { version: VERSION, optionalDependencies: optional }, resolvePackageJson, env });
}

function error(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LauncherError, `not a LauncherError: ${e}`);
    return e.render();
  }
  assert.fail("no error");
}

test("every platform of the table is what its own host picks first", () => {
  for (const p of PLATFORMS) {
    const host = { platform: p.os, arch: p.cpu, libc: p.libc };
    assert.equal(candidates(host)[0], p.key, describeHost(host));
    const found = resolve(host, { [p.key]: VERSION });
    assert.equal(found.from, packageName(p.key));
    assert.ok(found.file.endsWith(p.os === "win32" ? "leakcheck.exe" : path.join("bin", "leakcheck")));
  }
});

test("a glibc Linux falls back to the static musl binary, a musl Linux never takes glibc's", () => {
  const glibc = { platform: "linux", arch: "x64", libc: "glibc" };
  assert.equal(resolve(glibc, { "linux-x64-musl": VERSION }).from, "@leakcheck/linux-x64-musl");
  assert.equal(resolve(glibc, { "linux-x64-gnu": VERSION, "linux-x64-musl": VERSION }).from, "@leakcheck/linux-x64-gnu");
  const musl = { platform: "linux", arch: "arm64", libc: "musl" };
  assert.deepEqual(candidates(musl), ["linux-arm64-musl"]);
  const text = error(() => resolve(musl, { "linux-arm64-gnu": VERSION }));
  assert.match(text, /linux-arm64 \(musl\) is not installed \(@leakcheck\/linux-arm64-musl\)/);
  // An unknown C library: the static binary first.
  assert.deepEqual(candidates({ platform: "linux", arch: "x64", libc: null }), ["linux-x64-musl", "linux-x64-gnu"]);
});

test("a platform without a binary names the platforms there are and the cargo fallback", () => {
  const text = error(() => resolve({ platform: "freebsd", arch: "x64", libc: null }, {}));
  assert.match(text, /^error: leakcheck 1\.2\.3 has no prebuilt binary for freebsd-x64\n/);
  for (const p of PLATFORMS) assert.ok(text.includes(p.key), `${p.key} not named:\n${text}`);
  assert.match(text, /cargo install --locked leakcheck/);
  assert.match(text, /LEAKCHECK_BINARY/);
  // A release that did not build every platform offers only what it built.
  const linuxOnly = { "@leakcheck/linux-x64-gnu": VERSION, "@leakcheck/linux-x64-musl": VERSION };
  const win = error(() => resolve({ platform: "win32", arch: "x64", libc: null }, {}, { optional: linuxOnly }));
  assert.match(win, /prebuilt binaries: linux-x64-gnu, linux-x64-musl\n/);
  assert.deepEqual(offeredKeys({ optionalDependencies: { ...linuxOnly, "left-pad": "1.0.0" } }), ["linux-x64-gnu", "linux-x64-musl"]);
});

test("a platform package left out of the install says how to get it", () => {
  const text = error(() => resolve({ platform: "darwin", arch: "arm64", libc: null }, {}));
  assert.match(text, /the package that holds leakcheck's binary for darwin-arm64 is not installed \(@leakcheck\/darwin-arm64\)/);
  assert.match(text, /--omit=optional/);
  assert.match(text, /cargo install --locked leakcheck/);
});

test("a platform package of another version is refused", () => {
  const text = error(() => resolve({ platform: "linux", arch: "x64", libc: "glibc" }, { "linux-x64-gnu": "1.2.2" }));
  assert.match(text, /@leakcheck\/linux-x64-gnu 1\.2\.2 does not match leakcheck 1\.2\.3/);
  assert.match(text, /npm install --save-dev leakcheck@1\.2\.3/);
});

test("LEAKCHECK_BINARY wins, and must name a file", () => {
  const { root } = installed({});
  const file = path.join(root, "leakcheck");
  fs.writeFileSync(file, "");
  const host = { platform: "sunos", arch: "x64", libc: null };
  assert.deepEqual(resolve(host, {}, { env: { LEAKCHECK_BINARY: file } }), { file, from: "LEAKCHECK_BINARY" });
  const text = error(() => resolve(host, {}, { env: { LEAKCHECK_BINARY: path.join(root, "nope") } }));
  assert.match(text, /LEAKCHECK_BINARY names `.*nope`, which is not a file/);
});

test("the launcher package lists its files and no optionalDependencies of its own", () => {
  const manifest = require("../leakcheck/package.json");
  assert.equal(manifest.bin.leakcheck, "bin/leakcheck.js");
  // scripts/npm-stage.js fills them in with the crate's version.
  assert.deepEqual(manifest.optionalDependencies, {});
  for (const entry of manifest.files.filter((f) => f.endsWith("/"))) {
    assert.ok(fs.existsSync(path.join(__dirname, "..", "leakcheck", entry)), entry);
  }
});
