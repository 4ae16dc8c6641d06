// Scenario runner: drives one centrifuge-js client against a real server and reports
// every SDK event as one JSON line on stdout, for tests/integration/test_js_client.py.
//
// Usage: node runner.mjs '<scenario JSON>'   (or the scenario as the first stdin line)
//
// Scenario: {
//   "url": "ws://127.0.0.1:8000/connection/websocket",
//   "protocol": "json" | "protobuf",
//   "token": "...",                 connection token (optional)
//   "tokens": ["...", ...],         answers of getToken, in order (optional; enables getToken;
//                                   when the list runs dry getToken waits for an add_tokens step)
//   "options": {...},               more Centrifuge options (minReconnectDelay, timeout, ...)
//   "deadline_ms": 30000,           the runner exits with code 3 after this, whatever happens
//   "trace": false,                 also report every WebSocket frame (frame_in / frame_out)
//   "steps": [{"op": ...}, ...]     run at start, in order; more steps arrive as stdin lines
// }
//
// Steps (each may carry "ref", echoed by the events it causes; calls report `result` or
// `call_error` with that ref):
//   connect | disconnect | exit
//   subscribe {channel, token?, tokens?, options?}  (tokens: answers of the sub's getToken)
//   unsubscribe {channel} | remove_subscription {channel}
//   publish {channel, data} | sub_publish {channel, data} | presence {channel}
//   presence_stats {channel} | history {channel, options?} | rpc {method, data} | send {data}
//   add_tokens {tokens, channel?}   (feed a waiting getToken; channel → that subscription's)
//
// Output lines: {"seq", "t" (ms since start), "source": client|sub|transport|runner,
// "event", ...the SDK context flattened}. Binary payloads (Protobuf) are decoded as UTF-8
// JSON when possible and flagged with data_type "bytes". The process never outlives its
// deadline and exits when stdin closes.

import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const started = Date.now();
let seq = 0;
let exiting = false;
let client = null;

function normalize(value) {
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) {
    const bytes = Buffer.from(value);
    if (bytes.length === 0) return { value: null, bytes: true }; // Protobuf: field absent
    const text = bytes.toString('utf8');
    try {
      return { value: JSON.parse(text), bytes: true };
    } catch {
      return { value: { $bytes: bytes.toString('hex') }, bytes: true };
    }
  }
  return { value, bytes: false };
}

function plain(value) {
  // Plain JSON for SDK contexts: bytes become JSON (when they hold JSON), errors objects.
  if (value === undefined || value === null) return value ?? null;
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return normalize(value).value;
  if (value instanceof Error) return { message: value.message, code: value.code ?? null };
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object') {
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      if (typeof item !== 'function') out[key] = plain(item);
    }
    return out;
  }
  if (typeof value === 'bigint') return Number(value);
  return value;
}

function emit(source, event, fields = {}) {
  const line = { seq: seq++, t: Date.now() - started, source, event };
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'data') {
      const { value: data, bytes } = normalize(value);
      line.data = plain(data);
      line.data_type = bytes ? 'bytes' : 'json';
    } else {
      line[key] = plain(value);
    }
  }
  process.stdout.write(JSON.stringify(line) + '\n');
}

function finish(code) {
  if (exiting) return;
  exiting = true;
  try {
    client?.disconnect();
  } catch {
    // best effort: the process is ending anyway
  }
  emit('runner', 'exit', { code });
  process.stdout.write('', () => process.exit(code));
}

process.on('uncaughtException', (err) => {
  emit('runner', 'runner_error', { message: String(err?.stack ?? err) });
  finish(2);
});
process.on('unhandledRejection', (err) => {
  emit('runner', 'runner_error', { message: String(err?.stack ?? err) });
  finish(2);
});

// ---- scenario ----------------------------------------------------------------------------

const stdinLines = createInterface({ input: process.stdin, crlfDelay: Infinity });
const pendingLines = [];
let lineWaiter = null;
let stdinClosed = false;
stdinLines.on('line', (line) => {
  if (!line.trim()) return;
  if (lineWaiter) {
    const waiter = lineWaiter;
    lineWaiter = null;
    waiter(line);
  } else {
    pendingLines.push(line);
  }
});
stdinLines.on('close', () => {
  stdinClosed = true;
  if (lineWaiter) lineWaiter(null);
});

function nextLine() {
  if (pendingLines.length) return Promise.resolve(pendingLines.shift());
  if (stdinClosed) return Promise.resolve(null);
  return new Promise((resolve) => {
    lineWaiter = resolve;
  });
}

const scenarioText = process.argv[2] ?? (await nextLine());
if (!scenarioText) {
  emit('runner', 'runner_error', { message: 'no scenario given' });
  process.exit(2);
}
const scenario = JSON.parse(scenarioText);
const protobuf = scenario.protocol === 'protobuf';
const deadline = setTimeout(() => {
  emit('runner', 'runner_timeout', { deadline_ms: scenario.deadline_ms ?? 30000 });
  finish(3);
}, scenario.deadline_ms ?? 30000);

const { Centrifuge } = await import(protobuf ? 'centrifuge/build/protobuf' : 'centrifuge');

function encodeData(data) {
  return protobuf ? new TextEncoder().encode(JSON.stringify(data)) : data;
}

// ---- transport tracing: pings, pongs and (optionally) every frame ------------------------

function protobufMessages(bytes) {
  // Split a binary frame into its varint-length-prefixed messages.
  const out = [];
  let pos = 0;
  while (pos < bytes.length) {
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos++];
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80 || pos >= bytes.length) break;
    }
    out.push(bytes.subarray(pos, pos + len));
    pos += len;
  }
  return out;
}

function isEmptyMessages(raw, binary) {
  // Count empty messages in a frame: a server ping or a client pong.
  if (binary) return protobufMessages(raw).filter((m) => m.length === 0).length;
  return raw.toString('utf8').split('\n').filter((line) => line.trim() === '{}').length;
}

class TracingWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    emit('transport', 'ws_open_requested', { url, protocols: protocols ?? null });
    this.on('upgrade', (response) => {
      emit('transport', 'ws_upgraded', {
        subprotocol: response.headers['sec-websocket-protocol'] ?? null,
      });
    });
    this.on('message', (data, isBinary) => {
      const raw = Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (scenario.trace) emit('transport', 'frame_in', frameFields(raw, isBinary));
      for (let i = isEmptyMessages(raw, isBinary); i > 0; i--) emit('transport', 'server_ping');
    });
    this.on('close', (code, reason) => {
      emit('transport', 'ws_closed', { code, reason: reason.toString('utf8') });
    });
  }

  send(data, ...rest) {
    const binary = typeof data !== 'string';
    const raw = binary ? Buffer.from(data) : Buffer.from(data, 'utf8');
    if (scenario.trace) emit('transport', 'frame_out', frameFields(raw, binary));
    for (let i = isEmptyMessages(raw, binary); i > 0; i--) emit('transport', 'client_pong');
    return super.send(data, ...rest);
  }
}

function frameFields(raw, binary) {
  return binary ? { binary: true, hex: raw.toString('hex') } : { binary: false, text: raw.toString('utf8') };
}

// ---- tokens ------------------------------------------------------------------------------

const tokenQueues = new Map(); // '' for the connection, channel name for subscriptions
const tokenWaiters = new Map();

function takeToken(key) {
  const queue = tokenQueues.get(key) ?? [];
  if (queue.length) return Promise.resolve(answerToken(queue.shift()));
  return new Promise((resolve, reject) => {
    tokenWaiters.set(key, (token) => {
      try {
        resolve(answerToken(token));
      } catch (err) {
        reject(err);
      }
    });
  });
}

function answerToken(token) {
  if (token && typeof token === 'object' && 'reject' in token) throw new Error(token.reject);
  return token;
}

function addTokens(key, tokens) {
  const queue = tokenQueues.get(key) ?? [];
  queue.push(...tokens);
  tokenQueues.set(key, queue);
  const waiter = tokenWaiters.get(key);
  if (waiter && queue.length) {
    tokenWaiters.delete(key);
    waiter(queue.shift());
  }
}

// ---- client ------------------------------------------------------------------------------

const options = { websocket: TracingWebSocket, ...(scenario.options ?? {}) };
if (scenario.token !== undefined) options.token = scenario.token;
if (scenario.tokens !== undefined) {
  tokenQueues.set('', [...scenario.tokens]);
  options.getToken = (ctx) => {
    emit('client', 'get_token', { ctx });
    return takeToken('');
  };
}
if (options.data !== undefined) options.data = encodeData(options.data);

client = new Centrifuge(scenario.url, options);

for (const name of ['connecting', 'connected', 'disconnected', 'error', 'message']) {
  client.on(name, (ctx) => emit('client', name, ctx));
}
for (const name of ['subscribing', 'subscribed', 'unsubscribed', 'publication', 'join', 'leave']) {
  client.on(name, (ctx) => emit('client', `server_${name}`, ctx));
}

function attach(sub) {
  for (const name of [
    'subscribing', 'subscribed', 'unsubscribed', 'publication', 'join', 'leave', 'error',
  ]) {
    sub.on(name, (ctx) => emit('sub', name, { channel: sub.channel, ...ctx }));
  }
}

function subscription(channel) {
  const sub = client.getSubscription(channel);
  if (!sub) throw new Error(`no subscription for ${channel}`);
  return sub;
}

function call(step, promise) {
  promise.then(
    (result) => emit('runner', 'result', { ref: step.ref, op: step.op, result: shapeResult(result) }),
    (error) => emit('runner', 'call_error', { ref: step.ref, op: step.op, error }),
  );
}

function shapeResult(result) {
  if (!result || typeof result !== 'object') return result ?? null;
  const out = plain(result);
  if ('data' in result) {
    const { value, bytes } = normalize(result.data);
    out.data = plain(value);
    out.data_type = bytes ? 'bytes' : 'json';
  }
  if (Array.isArray(result.publications)) {
    out.publications = result.publications.map((pub) => {
      const { value, bytes } = normalize(pub.data);
      return { ...plain(pub), data: plain(value), data_type: bytes ? 'bytes' : 'json' };
    });
  }
  return out;
}

const operations = {
  connect: () => client.connect(),
  disconnect: () => client.disconnect(),
  exit: () => finish(0),
  add_tokens: (step) => addTokens(step.channel ?? '', step.tokens),
  subscribe: (step) => {
    let sub = client.getSubscription(step.channel);
    if (!sub) {
      const subOptions = { ...(step.options ?? {}) };
      if (step.token !== undefined) subOptions.token = step.token;
      if (subOptions.data !== undefined) subOptions.data = encodeData(subOptions.data);
      if (step.tokens !== undefined) {
        tokenQueues.set(step.channel, [...step.tokens]);
        subOptions.getToken = (ctx) => {
          emit('sub', 'get_token', { channel: step.channel, ctx });
          return takeToken(step.channel);
        };
      }
      sub = client.newSubscription(step.channel, subOptions);
      attach(sub);
    }
    sub.subscribe();
  },
  unsubscribe: (step) => subscription(step.channel).unsubscribe(),
  remove_subscription: (step) => client.removeSubscription(subscription(step.channel)),
  publish: (step) => call(step, client.publish(step.channel, encodeData(step.data))),
  sub_publish: (step) => call(step, subscription(step.channel).publish(encodeData(step.data))),
  presence: (step) => call(step, client.presence(step.channel)),
  presence_stats: (step) => call(step, client.presenceStats(step.channel)),
  history: (step) => call(step, client.history(step.channel, step.options ?? {})),
  rpc: (step) => call(step, client.rpc(step.method, encodeData(step.data ?? {}))),
  send: (step) => call(step, client.send(encodeData(step.data ?? {}))),
};

function run(step) {
  const operation = operations[step.op];
  if (!operation) {
    emit('runner', 'runner_error', { ref: step.ref, message: `unknown op ${step.op}` });
    return;
  }
  try {
    operation(step);
    emit('runner', 'step_done', { ref: step.ref ?? null, op: step.op });
  } catch (err) {
    emit('runner', 'runner_error', { ref: step.ref ?? null, op: step.op, message: String(err) });
  }
}

emit('runner', 'ready', { protocol: protobuf ? 'protobuf' : 'json', node: process.version });
for (const step of scenario.steps ?? []) run(step);

for (;;) {
  const line = await nextLine();
  if (line === null) break;
  let step;
  try {
    step = JSON.parse(line);
  } catch (err) {
    emit('runner', 'runner_error', { message: `bad step line: ${err}` });
    continue;
  }
  run(step);
  if (exiting) break;
}
finish(0);
