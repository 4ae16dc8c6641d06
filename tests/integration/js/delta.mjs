// Delta compression probe for tests/integration/test_delta.py: several centrifuge-js clients
// subscribe to one channel (each with its own subscription options, e.g. delta: 'fossil'
// or none), count the raw bytes of every WebSocket frame the server sends them and report
// every publication as the SDK hands it to the application.
//
// Usage: node delta.mjs '<scenario JSON>'
//
// Scenario: {
//   "url": "ws://127.0.0.1:8000/connection/websocket",
//   "protocol": "json" | "protobuf",
//   "token": "...",
//   "channel": "delta:doc",
//   "count": 100,                   publications each client awaits before reporting "done"
//   "clients": [{"name": "delta", "options": {"delta": "fossil"}}, {"name": "plain"}],
//                                   (a client's own "count" overrides the scenario's)
//   "deadline_ms": 60000
// }
//
// Output lines (JSON): ready · subscribed {client, ...ctx} · publication {client, offset,
// data} · done {client, bytes_in, frames_in, delta_stats} · error {client, message} ·
// exit {code}. The process exits when every client is done or at the deadline (code 3).

import WebSocket from 'ws';

const scenario = JSON.parse(process.argv[2]);
const protobuf = scenario.protocol === 'protobuf';
const { Centrifuge } = await import(protobuf ? 'centrifuge/build/protobuf' : 'centrifuge');

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

function finish(code) {
  emit('exit', { code });
  process.stdout.write('', () => process.exit(code));
}

setTimeout(() => finish(3), scenario.deadline_ms ?? 60000);
process.on('uncaughtException', (err) => {
  emit('error', { client: null, message: String(err?.stack ?? err) });
  finish(2);
});

function decode(data) {
  // Protobuf hands the application bytes: the test publishes JSON, so parse them.
  if (data instanceof Uint8Array) return JSON.parse(new TextDecoder().decode(data));
  return data;
}

function countingWebSocket(counter) {
  return class CountingWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      this.on('message', (data) => {
        counter.bytes += data.byteLength ?? data.length;
        counter.frames += 1;
      });
    }
  };
}

let remaining = scenario.clients.length;

for (const spec of scenario.clients) {
  const counter = { bytes: 0, frames: 0 };
  const client = new Centrifuge(scenario.url, {
    token: scenario.token,
    websocket: countingWebSocket(counter),
  });
  const sub = client.newSubscription(scenario.channel, spec.options ?? {});
  let received = 0;
  sub.on('subscribed', (ctx) => emit('subscribed', { client: spec.name, ...ctx }));
  sub.on('error', (ctx) => emit('error', { client: spec.name, message: String(ctx?.error?.message) }));
  sub.on('unsubscribed', (ctx) => emit('unsubscribed', { client: spec.name, ...ctx }));
  sub.on('publication', (ctx) => {
    emit('publication', { client: spec.name, offset: Number(ctx.offset ?? 0), data: decode(ctx.data) });
    received += 1;
    if (received === (spec.count ?? scenario.count)) {
      emit('done', {
        client: spec.name,
        bytes_in: counter.bytes,
        frames_in: counter.frames,
        delta_stats: spec.options?.delta ? sub.deltaStats() : null,
      });
      client.disconnect();
      remaining -= 1;
      if (remaining === 0) finish(0);
    }
  });
  client.on('error', (ctx) => emit('error', { client: spec.name, message: String(ctx?.error?.message) }));
  sub.subscribe();
  client.connect();
}

emit('ready', { protocol: protobuf ? 'protobuf' : 'json', node: process.version });
