// runner.mjs with one more subscription option, for tests/integration/test_recovery.py
// (JSON protocol only): a function cannot travel in the scenario's JSON, so
//
//   {"op": "subscribe", "channel": "c", "options": {"getState": [{"offset": 1, "epoch": "E"}, ...]}}
//
// gives the subscription a getState callback (centrifuge-js >= 5.6) answering these stream
// positions in order, the last one again once they run out. Every call is reported as
// {"source": "sub", "event": "get_state", "channel", "call", "answer"}. Everything else —
// usage, steps, output — is runner.mjs's.

import { Centrifuge } from 'centrifuge';

const newSubscription = Centrifuge.prototype.newSubscription;

Centrifuge.prototype.newSubscription = function (channel, options = {}) {
  const answers = options.getState;
  if (!Array.isArray(answers)) return newSubscription.call(this, channel, options);
  let calls = 0;
  const getState = async () => {
    const answer = answers[Math.min(calls, answers.length - 1)];
    calls += 1;
    const line = { seq: -1, t: 0, source: 'sub', event: 'get_state', channel, call: calls, answer };
    process.stdout.write(JSON.stringify(line) + '\n');
    return answer;
  };
  return newSubscription.call(this, channel, { ...options, getState });
};

await import('./runner.mjs');
