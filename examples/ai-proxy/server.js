'use strict';
// An AI proxy, the kind that runs out of memory in production: it forwards chat
// requests to a model and returns the model's long, streamed answer.
//
//   POST /api/chat        LEAKS. Buffers the whole upstream answer, then keeps the
//                         full prompt and answer in two module-level arrays,
//                         `bufferedResponses` and `requestLogs`, "for debugging".
//   POST /api/chat-fixed  The fix. Streams the answer chunk by chunk (honouring
//                         back-pressure) and logs metadata only, into a ring buffer
//                         of RECENT_LOG_SIZE entries (default 100).
//   GET  /stats           what the process is holding (counts, not contents)
//   GET  /health
//
// The "model" is a fake upstream inside this process: a ReadableStream of UTF-8
// chunks, the shape `fetch(...).body` has, so the example needs no network and
// no API key. Plain node:http, no dependencies.
//
//   PORT=8787 node server.js
//   curl -s localhost:8787/api/chat -H 'content-type: application/json' \
//        -d '{"prompt": "Write a long story", "max_tokens": 600}'
//
// leakcheck runs it from leakspec.toml.example at the top of the repository.

const http = require('node:http');
const crypto = require('node:crypto');

const PORT = Number(process.env.PORT) || 8787;
const LOG_LEVEL = process.env.LOG_LEVEL || 'info';
const RECENT_LOG_SIZE = Number(process.env.RECENT_LOG_SIZE) || 100;
const MAX_TOKENS = 2000;

const levels = { error: 0, warn: 1, info: 2, debug: 3 };
function log(level, message) {
  if (levels[level] <= (levels[LOG_LEVEL] ?? levels.info)) {
    process.stderr.write(`${new Date().toISOString()} ${level} ai-proxy: ${message}\n`);
  }
}

// ---------------------------------------------------------------------------
// The fake upstream model.

const WORDS = ('once upon a time there was a small proxy that carried every answer the model gave ' +
  'and it kept them all because someone might want to read them later the heap grew quietly ' +
  'request after request until the process hit its memory limit and was restarted at night').split(' ');

/** Starts a completion; resolves with `{ id, body }`, `body` a ReadableStream of bytes. */
async function upstreamChat({ prompt, maxTokens }) {
  const id = `cmpl-${crypto.randomBytes(6).toString('hex')}`;
  let state = crypto.createHash('sha1').update(prompt).digest().readUInt32LE(0) ^ crypto.randomBytes(4).readUInt32LE(0);
  let produced = 0;
  const encoder = new TextEncoder();
  const body = new ReadableStream({
    async pull(controller) {
      // One chunk of up to 16 tokens per pull, with a turn of the event loop in
      // between, as if tokens were arriving from the network.
      await new Promise((resolve) => setImmediate(resolve));
      if (produced >= maxTokens) {
        controller.close();
        return;
      }
      let text = '';
      for (let k = 0; k < 16 && produced < maxTokens; k++, produced++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        text += (produced === 0 ? '' : ' ') + WORDS[state % WORDS.length];
      }
      controller.enqueue(encoder.encode(text));
    },
  });
  return { id, body };
}

// ---------------------------------------------------------------------------
// State kept by the leaky route: everything, forever.

class BufferedResponse {
  constructor(id, text) {
    this.id = id;
    this.text = text; // the whole answer, several KiB
    this.receivedAt = new Date().toISOString();
  }
}

const bufferedResponses = []; // one BufferedResponse per request, never trimmed
const requestLogs = []; // one {fullPrompt, fullResponse, timestamp} per request, never trimmed

// State kept by the fixed route: a fixed number of small metadata records.

class RingBuffer {
  constructor(capacity) {
    this.items = new Array(capacity).fill(null);
    this.next = 0;
    this.count = 0;
  }
  push(item) {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.items.length;
    this.count = Math.min(this.count + 1, this.items.length);
  }
}

const recentRequests = new RingBuffer(RECENT_LOG_SIZE); // {id, model, promptChars, responseBytes, ms}

// ---------------------------------------------------------------------------
// HTTP plumbing.

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

class BadRequest extends Error {}

async function readChatRequest(req) {
  if (!(req.headers['content-type'] || '').startsWith('application/json')) throw new BadRequest('expected content-type application/json');
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new BadRequest('request body larger than 64 KiB');
    chunks.push(chunk);
  }
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('request body is not valid JSON');
  }
  if (!body || typeof body.prompt !== 'string' || body.prompt.length === 0) throw new BadRequest('prompt must be a non-empty string');
  const maxTokens = body.max_tokens === undefined ? 600 : body.max_tokens;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > MAX_TOKENS) throw new BadRequest(`max_tokens must be an integer from 1 to ${MAX_TOKENS}`);
  return { prompt: body.prompt, maxTokens, model: typeof body.model === 'string' ? body.model : 'story-teller-1' };
}

// ---------------------------------------------------------------------------
// Routes.

// LEAK: buffer the whole answer, then keep it twice over in module-level arrays.
async function chat(req, res) {
  const { prompt, maxTokens, model } = await readChatRequest(req);
  const upstream = await upstreamChat({ prompt, maxTokens });
  const decoder = new TextDecoder();
  const parts = [];
  for await (const chunk of upstream.body) parts.push(decoder.decode(chunk, { stream: true }));
  const fullResponse = parts.join('');

  bufferedResponses.push(new BufferedResponse(upstream.id, fullResponse));
  requestLogs.push({ fullPrompt: prompt, fullResponse, model, timestamp: Date.now() });

  sendJson(res, 200, { id: upstream.id, model, content: fullResponse });
}

// FIXED: stream through, keep only a bounded amount of metadata.
async function chatFixed(req, res) {
  const started = Date.now();
  const { prompt, maxTokens, model } = await readChatRequest(req);
  const upstream = await upstreamChat({ prompt, maxTokens });
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-completion-id': upstream.id });
  let responseBytes = 0;
  for await (const chunk of upstream.body) {
    if (res.destroyed) break; // the client went away: stop reading from the model
    responseBytes += chunk.length;
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
  recentRequests.push({ id: upstream.id, model, promptChars: prompt.length, responseBytes, ms: Date.now() - started });
}

function stats(res) {
  const mem = process.memoryUsage();
  sendJson(res, 200, {
    bufferedResponses: bufferedResponses.length,
    requestLogs: requestLogs.length,
    recentRequests: recentRequests.count,
    recentRequestsCapacity: RECENT_LOG_SIZE,
    heapUsedMiB: +(mem.heapUsed / 1048576).toFixed(1),
  });
}

const server = http.createServer((req, res) => {
  const route = `${req.method} ${req.url.split('?')[0]}`;
  let handler;
  switch (route) {
    case 'GET /health': handler = () => sendJson(res, 200, { status: 'ok' }); break;
    case 'GET /stats': handler = () => stats(res); break;
    case 'POST /api/chat': handler = () => chat(req, res); break;
    case 'POST /api/chat-fixed': handler = () => chatFixed(req, res); break;
    default: handler = () => sendJson(res, 404, { error: `no route for ${route}` });
  }
  Promise.resolve()
    .then(handler)
    .then(() => log('debug', `${route} ${res.statusCode}`))
    .catch((err) => {
      if (err instanceof BadRequest) return sendJson(res, 400, { error: err.message });
      log('error', `${route} failed: ${err.stack}`);
      if (!res.headersSent) sendJson(res, 502, { error: 'upstream failed' });
      else res.destroy();
    });
});

server.listen(PORT, '127.0.0.1', () => {
  log('info', `listening on http://127.0.0.1:${server.address().port} (pid ${process.pid})`);
});

// Graceful shutdown: stop accepting, finish in-flight requests, then exit.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    log('info', `${signal}: shutting down`);
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 5000).unref();
  });
}
