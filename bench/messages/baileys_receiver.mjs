// The Baileys 7 side of bench/messages, in its own process so its CPU time is its own: an
// account on wasim with Baileys' in-memory key store. Driven over IPC by bench_messages.mjs:
//   {cmd:'open'}             log in (pairing through wasim's phone the first time) -> {event:'open', me, lid}
//   {cmd:'close'}            disconnect (messages for it now wait in wasim)         -> {event:'closed'}
//   {cmd:'drain', prefix, count}  log in again and wait until `count` texts starting with `prefix`
//                            arrived -> {event:'drained', wall_ms, cpu_ms, received, failed}
//                            (clock and CPU from the login to the last of them)
//   {cmd:'send', to, text}   -> {event:'sent', id}
//   {cmd:'quit'}
// Every text received is reported as {event:'message', id, text, at_ms, error}.
import { openPeer } from '../../tests/interop/lib/peer.mjs';

const [wsUrl, adminUrl, phone] = process.argv.slice(2);
let peer = null;
let auth;
const reply = (o) => process.send(o);
let drain = null;

const onMessage = (m) => {
  const at = Date.now();
  reply({ event: 'message', id: m.id, text: m.text, at_ms: at, error: m.error });
  if (drain && m.text && m.text.startsWith(drain.prefix)) {
    drain.received++;
    if (drain.received === 1) drain.first = at;
    if (m.error) drain.failed++;
    if (drain.received >= drain.count) {
      const cpu = process.cpuUsage(drain.cpu0);
      reply({ event: 'drained', wall_ms: at - drain.t0, cpu_ms: (cpu.user + cpu.system) / 1000,
        first_ms: drain.first - drain.t0, open_ms: drain.t0 - drain.asked,
        received: drain.received, failed: drain.failed });
      drain = null;
    }
  }
};

async function open() {
  // As a bot usually runs Baileys: no history sync (else it holds every event up to 20 s after a login).
  peer = await openPeer({ version: '7', wsUrl, adminUrl, phone, auth, stepMs: 60000, onMessage,
    socketConfig: { shouldSyncHistoryMessage: () => false } });
  auth = peer.auth;
}

process.on('message', async (c) => {
  try {
    if (c.cmd === 'open') {
      await open();
      reply({ event: 'open', me: peer.me, lid: peer.lid });
    } else if (c.cmd === 'close') {
      await peer.end();
      reply({ event: 'closed' });
    } else if (c.cmd === 'drain') {
      // Armed before the login: the offline batch may start right behind 'open'.
      // Clock and CPU start at the login ('open'), as waconnector's do (its wa_client_logged_in).
      drain = { prefix: c.prefix, count: c.count, received: 0, failed: 0, asked: Date.now(),
        t0: Date.now(), cpu0: process.cpuUsage() };
      const d = drain;
      await open();
      if (d.received === 0) { d.t0 = Date.now(); d.cpu0 = process.cpuUsage(); }
    } else if (c.cmd === 'send') {
      reply({ event: 'sent', id: await peer.send(c.to, c.text) });
    } else if (c.cmd === 'quit') {
      if (peer) await peer.end();
      process.exit(0);
    }
  } catch (e) {
    reply({ event: 'error', error: String(e?.stack || e) });
  }
});
reply({ event: 'ready' });
