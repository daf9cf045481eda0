#!/usr/bin/env node
// A local webhook receiver for the demo (and for trying webhooks by hand): listens on 127.0.0.1,
// verifies each delivery's Standard Webhooks signature with the endpoint's secret, answers 200, and
// prints one JSON line per delivery; GET <url>/summary answers the counts so far.
//   node scripts/webhook-receiver.mjs --secret-file FILE [--port N]
// The first line printed is {"event":"listening","url":...}: register that URL, then write the
// secret the API returned into FILE (read on each delivery until it exists). Node built-ins only.
import { readFileSync } from 'node:fs';
import { startReceiver } from '../tests/interop/lib/webhook_receiver.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
};
const secretFile = arg('secret-file', null);
if (!secretFile) {
  process.stderr.write('usage: node scripts/webhook-receiver.mjs --secret-file FILE [--port N]\n');
  process.exit(2);
}
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
let secret = null;
const rx = await startReceiver({
  port: Number(arg('port', '0')),
  // Until the secret is known a delivery cannot be checked: 503 asks the sender to come again.
  answer: (d) => (d.signed === null ? 503 : 200),
});
rx.secret = () => {
  if (!secret) {
    try { secret = readFileSync(secretFile, 'utf8').trim() || null; } catch { /* not written yet */ }
  }
  return secret;
};
// Every delivery, once answered: the event, whether its signature verified, the status returned.
const shown = new Set();
setInterval(() => {
  for (const d of rx.deliveries) {
    if (shown.has(d)) continue;
    shown.add(d);
    const data = d.event?.data || {};
    out({ event: 'delivery', webhook_id: d.id, type: d.event?.type, sequence: d.event?.sequence,
      signature: d.signed === null ? 'no secret yet' : d.signed ? 'valid' : 'INVALID', status: d.status,
      about: { 'message.received': data.text, 'message.status': `${data.id} ${data.status}`,
        'account.status': data.status, 'account.leader': `${data.old_pod ?? '-'} -> ${data.new_pod} epoch ${data.epoch}` }[d.event?.type] ?? null });
  }
}, 50).unref();
out({ event: 'listening', url: rx.url });
const stop = async () => { await rx.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
