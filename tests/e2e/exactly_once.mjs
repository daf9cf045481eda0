// The exactly-once drill of the application interface (issue 9's proof): wasim, a fresh database,
// three `waconnector run` replicas of one paired account, a Baileys 7 peer and a webhook receiver.
// While the peer sends the account 40 texts, the application POSTs 40 texts through the REST API,
// each twice at once with one Idempotency-Key (each POST to a random pod, retried on another when
// its pod dies under it), and the leader is SIGKILLed twice (the killed pod starts again as a
// standby). The receiver is down for 2.5 s once and then fails the first attempt of every third
// event.
// At the end:
//   - every inbound message is in the inbox once (REST inbox, paged by cursor) and reached the
//     receiver under exactly one event id, whatever the retries and the failovers;
//   - each key's two POSTs got the same message id; every outbound id reached Baileys, every copy
//     with its text, and its row reached `delivered`; its status events came once per status;
//   - every webhook attempt carried a valid Standard Webhooks signature (checked with the
//     receiver's own HMAC) and a fresh timestamp, and the body's id is the webhook-id header;
//   - wasim never had two logins of the device open at once; nobody failed to decrypt.
// Runs under ctest as e2e_api_exactly_once (tests/e2e/CMakeLists.txt); needs tests/interop's
// node_modules (Baileys) and WACONN_TEST_DATABASE_URL.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startWasim } from '../interop/lib/wasim.mjs';
import { Report, failOnUncaught } from '../interop/lib/report.mjs';
import { openPeer } from '../interop/lib/peer.mjs';
import { freshDatabase, Pods } from '../interop/lib/pods.mjs';
import { startReceiver } from '../interop/lib/webhook_receiver.mjs';
import { sleep, until } from '../interop/lib/wait.mjs';

failOnUncaught('exactly_once');
const ACCOUNT = 'drill';
const PHONE = '+15550005601';
const PEER_PHONE = '+15550007601';
const COUNT = 40;          // each way
const EVERY_MS = 250;      // one inbound and one outbound text per EVERY_MS
const DRAIN_MS = 90000;    // after the traffic: everything settled by then,
const STALL_MS = 25000;    // or nothing more settled for this long (a webhook retry waits ~5 s)

const r = new Report('exactly_once');
const t0 = Date.now();
const db = freshDatabase('waconn_drill', ACCOUNT);
const sim = await startWasim();
const pods = new Pods(db, sim);
let peer = null;
let rx = null;
const faults = [];
const inboundSent = [];                 // ids the peer sent
const posts = [];                       // {key, text, ids: [id of POST 1, id of POST 2], errors}
const failFirst = new Set();              // event ids whose first attempt the receiver fails
let downs = 0;

// The REST API on a random running pod (another one than `not` when there is a choice); a pod
// killed under the request fails it: the caller retries on another pod.
const api = async (method, p, { body, key, token, not } = {}) => {
  let live = pods.running();
  if (not && live.length > 1) live = live.filter((x) => x !== not);
  if (!live.length) throw new Error('no pod listening');
  const pod = live[randomInt(live.length)];
  const headers = { authorization: `Bearer ${token}` };
  if (body) headers['content-type'] = 'application/json';
  if (key) headers['idempotency-key'] = key;
  const res = await fetch(`http://127.0.0.1:${pod.port}/v1/accounts/${ACCOUNT}${p}`,
    { method, headers, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, pod };
};
// Retries on another pod until an answer below 500 (a POST that the killed pod may have stored
// is sent again with its key: that is what the key is for).
const apiRetry = async (method, p, opts = {}) => {
  let last = null;
  for (let i = 0; i < 20; i++) {
    try {
      last = await api(method, p, { ...opts, not: last?.pod });
      if (last.status < 500) return last;
    } catch (e) { last = { status: 0, text: String(e), pod: last?.pod }; }
    await sleep(250);
  }
  return last;
};

try {
  for (const n of ['pod-0', 'pod-1', 'pod-2']) pods.start(n);
  if (!r.check('the pods listen', Boolean(await pods.listening()))) throw new Error('pods did not start');
  const token = db.token('drill');
  await pods.pair(PHONE);
  const connJid = `${PHONE.slice(1)}@s.whatsapp.net`;
  const peerJid = `${PEER_PHONE.slice(1)}@s.whatsapp.net`;

  // The receiver: of the events created after `failFrom`, every third fails its first attempt
  // (500; the sender retries ~5 s later). The retry schedule goes 0 s, 5 s, 5 min, so no event may
  // fail twice: first attempts fail only for events created after the down window, and only when
  // the attempt comes within 5 s of the event (a later "first" one may be the second attempt: a
  // killed leader claims a batch and dies before POSTing all of it, and the claim counts).
  let seen = 0;
  let failFrom = Infinity;
  rx = await startReceiver({
    answer: (d) => {
      if (!d.event || !d.id) return 400;
      // (d joins rx.deliveries after its answer: `earlier` is about earlier attempts only)
      const earlier = rx.deliveries.some((x) => x.id === d.id);
      const created = Date.parse(d.event.timestamp);
      if (!earlier && created > failFrom && d.at - created < 5000 && ++seen % 3 === 0) {
        failFirst.add(d.id);
        return 500;
      }
      return 200;
    },
  });
  const hook = await apiRetry('POST', '/webhooks', { token, body: { url: rx.url, events: ['*'] } });
  if (!r.check('webhook registered through a pod', hook.status === 201 && hook.json?.secret, hook.text)) throw new Error('no webhook');
  rx.secret = hook.json.secret;

  peer = await openPeer({ version: '7', wsUrl: sim.wsUrl, adminUrl: sim.adminUrl, phone: PEER_PHONE, stepMs: 30000 });
  const inbox = async () => {
    const out = [];
    for (let after = '0'; ;) {
      const page = await apiRetry('GET', `/inbox?after=${after}&limit=100`, { token });
      if (page.status !== 200) throw new Error(`GET inbox: ${page.status} ${page.text}`);
      out.push(...page.json.messages);
      if (!page.json.messages.length) return out;
      after = page.json.next;
    }
  };
  const send = async (text) => {
    const res = await apiRetry('POST', '/messages', { token, key: `drill-${randomBytes(8).toString('hex')}`, body: { to: peerJid, text } });
    return res.json?.id;
  };
  // Both ways once before the traffic: the Signal sessions exist, so the faults hit ordinary traffic.
  const hello = await peer.send(connJid, 'drill warm-up in');
  r.check('warm-up: peer -> account', Boolean(await until(async () => (await inbox()).some((m) => m.id === hello), 30000, 250)));
  const back = await send('drill warm-up out');
  r.check('warm-up: account -> peer', Boolean(back && await peer.waitFor((m) => m.id === back, 30000)));

  const inLoop = (async () => {
    for (let i = 0; i < COUNT; i++) {
      const t = Date.now();
      try { inboundSent.push(await peer.send(connJid, `drill-in-${i}`)); } catch (e) { r.check(`peer send ${i}`, false, String(e)); }
      await sleep(Math.max(0, EVERY_MS - (Date.now() - t)));
    }
  })();
  // Each text: two POSTs with one key to two different pods, at the same time.
  const outLoop = (async () => {
    const inFlight = [];
    for (let i = 0; i < COUNT; i++) {
      const t = Date.now();
      const post = { key: `drill-${i}-${randomBytes(6).toString('hex')}`, text: `drill-out-${i}`, answers: [] };
      posts.push(post);
      const once = () => apiRetry('POST', '/messages', { token, key: post.key, body: { to: peerJid, text: post.text } })
        .then((res) => post.answers.push(res));
      inFlight.push(Promise.all([once(), once()]));
      await sleep(Math.max(0, EVERY_MS - (Date.now() - t)));
    }
    await Promise.all(inFlight);
  })();
  // The faults: the receiver down for 2.5 s as the traffic starts, then SIGKILL of the logged-in
  // leader twice (the second once a leader is logged in again). A killed pod starts again as a
  // standby.
  const kill = async () => {
    const lead = await until(() => pods.leader(), 60000, 100);
    if (!r.check('someone leads before the kill', Boolean(lead))) return;
    const at = Date.now();
    lead.proc.kill('SIGKILL');
    const login = await until(() => pods.loginAfter(at), 60000, 50);
    faults.push({ pod: lead.name, logged_in_ms: login && login - at });
    r.check(`SIGKILL of ${lead.name}: the account logged in again`, Boolean(login));
    await pods.stop(lead, 'SIGKILL');
    pods.start(lead.name);
  };
  await sleep(EVERY_MS * 2);
  downs++;
  await rx.down(2500);
  failFrom = Date.now() + 500;
  await sleep(COUNT * EVERY_MS / 4);
  await kill();
  await sleep(COUNT * EVERY_MS / 4);
  await kill();
  await Promise.all([inLoop, outLoop]);

  // Each key: both POSTs answered 202 with one id.
  const outIds = new Set();
  for (const p of posts) {
    const ids = new Set(p.answers.map((a) => a.json?.id));
    const ok = p.answers.length === 2 && p.answers.every((a) => a.status === 202) && ids.size === 1 && !ids.has(undefined);
    r.check(`both POSTs of ${p.key} got 202 and one id`, ok, p.answers.map((a) => `${a.status} ${a.text}`).join(' | '));
    if (ok) { p.id = [...ids][0]; outIds.add(p.id); }
  }
  r.check('40 keys gave 40 distinct message ids', outIds.size === COUNT, `${outIds.size} ids`);

  // Drain: wait while things keep settling.
  const inIds = new Set(inboundSent);
  let rows = [];
  let statuses = new Map();
  const delivered = (type, pred) => rx.deliveries.filter((d) => d.status < 300 && d.event?.type === type && pred(d.event.data));
  let settled = -1;
  let progressAt = Date.now();
  const drainEnd = Date.now() + DRAIN_MS;
  while (Date.now() < drainEnd && Date.now() - progressAt < STALL_MS) {
    rows = await inbox();
    const have = new Set(rows.map((m) => m.id));
    const peerHas = new Set(peer.received.map((m) => m.id));
    for (const id of outIds) {
      if (statuses.get(id) === 'delivered' || statuses.get(id) === 'read') continue;
      const res = await apiRetry('GET', `/messages/${id}`, { token });
      statuses.set(id, res.json?.status);
    }
    const hookIn = new Set(delivered('message.received', () => true).map((d) => d.event.data.id));
    const hookOut = new Set(delivered('message.status', (x) => x.status === 'delivered' || x.status === 'read').map((d) => d.event.data.id));
    const n = [...inIds].filter((id) => have.has(id) && hookIn.has(id)).length +
      [...outIds].filter((id) => peerHas.has(id) && ['delivered', 'read'].includes(statuses.get(id)) && hookOut.has(id)).length;
    // ... and every event whose first attempt failed came again and was taken.
    const retriedOk = [...failFirst].filter((id) => rx.deliveries.some((x) => x.id === id && x.status < 300)).length;
    if (n + retriedOk > settled) { settled = n + retriedOk; progressAt = Date.now(); }
    if (n === inIds.size + outIds.size && retriedOk === failFirst.size) break;
    await sleep(500);
  }

  // Inbound: the inbox, then the webhooks.
  const countIn = new Map();
  for (const m of rows) if (inIds.has(m.id)) countIn.set(m.id, (countIn.get(m.id) || 0) + 1);
  const inLost = [...inIds].filter((id) => !countIn.has(id));
  const inDoubled = [...countIn].filter(([, n]) => n > 1).map(([id]) => id);
  r.check('inbound: the peer sent 40', inIds.size === COUNT, `${inIds.size}`);
  r.check('inbound: every message is in the inbox', inLost.length === 0, `lost ${inLost.length}: ${inLost.slice(0, 5).join(' ')}`);
  r.check('inbound: none twice in the inbox', inDoubled.length === 0, inDoubled.slice(0, 5).join(' '));
  const eventIdsOf = (type, keyOf) => {
    const m = new Map();
    for (const d of rx.deliveries) {
      if (d.event?.type !== type) continue;
      const k = keyOf(d.event.data);
      m.set(k, new Set([...(m.get(k) || []), d.id]));
    }
    return m;
  };
  const inEvents = eventIdsOf('message.received', (x) => x.id);
  const inHookMissing = [...inIds].filter((id) => !delivered('message.received', (x) => x.id === id).length);
  const inHookTwice = [...inIds].filter((id) => (inEvents.get(id)?.size || 0) > 1);
  r.check('inbound: every message reached the receiver (2xx)', inHookMissing.length === 0,
    `missing ${inHookMissing.length}: ${inHookMissing.slice(0, 5).join(' ')}`);
  r.check('inbound: every message under exactly one event id', inHookTwice.length === 0,
    inHookTwice.slice(0, 3).map((id) => `${id}: ${[...inEvents.get(id)].join(' ')}`).join('; '));

  // Outbound: Baileys, the rows, the status events.
  const copies = new Map();
  for (const m of peer.received) if (outIds.has(m.id)) copies.set(m.id, [...(copies.get(m.id) || []), m.text]);
  const outLost = [...outIds].filter((id) => !copies.has(id));
  const textOf = new Map(posts.map((p) => [p.id, p.text]));
  const wrongText = [...copies].filter(([id, texts]) => texts.some((t) => t !== textOf.get(id))).map(([id]) => id);
  const resent = [...copies].filter(([, t]) => t.length > 1).map(([id]) => id);
  // An application text that reached Baileys under an id no POST returned would be a second message.
  const strays = peer.received.filter((m) => /^drill-out-\d+$/.test(m.text || '') && !outIds.has(m.id));
  r.check('outbound: Baileys received every message', outLost.length === 0, `lost ${outLost.length}: ${outLost.slice(0, 5).join(' ')}`);
  r.check('outbound: each text once (no second id for a key)', strays.length === 0, JSON.stringify(strays.slice(0, 3)));
  r.check('outbound: every copy carries its text', wrongText.length === 0, wrongText.slice(0, 5).join(' '));
  const undelivered = [...outIds].filter((id) => !['delivered', 'read'].includes(statuses.get(id)));
  r.check('outbound: every row reached delivered', undelivered.length === 0,
    undelivered.slice(0, 5).map((id) => `${id}=${statuses.get(id)}`).join(' '));
  const statusEvents = eventIdsOf('message.status', (x) => `${x.id} ${x.status}`);
  const statusTwice = [...statusEvents].filter(([k, ids]) => outIds.has(k.split(' ')[0]) && ids.size > 1);
  const deliveredHookMissing = [...outIds].filter((id) => !statusEvents.has(`${id} delivered`) && !statusEvents.has(`${id} read`));
  r.check('outbound: a delivered status event for every message', deliveredHookMissing.length === 0,
    deliveredHookMissing.slice(0, 5).join(' '));
  r.check('outbound: each status under exactly one event id', statusTwice.length === 0,
    statusTwice.slice(0, 3).map(([k, ids]) => `${k}: ${[...ids].join(' ')}`).join('; '));

  // Every attempt: signature, timestamp, envelope id = header id; retries happened and kept the id.
  const unsigned = rx.deliveries.filter((d) => !d.signed || !d.fresh);
  r.check('every webhook signature verifies, every timestamp is fresh', unsigned.length === 0 && rx.deliveries.length > 0,
    JSON.stringify(unsigned.slice(0, 2).map((d) => ({ id: d.id, timestamp: d.timestamp, signed: d.signed }))));
  const idMismatch = rx.deliveries.filter((d) => d.event?.id !== d.id);
  r.check('the envelope id is the webhook-id header', idMismatch.length === 0, JSON.stringify(idMismatch.slice(0, 2)));
  const byEvent = rx.byEvent();
  const retried = [...byEvent].filter(([, ds]) => ds.length > 1);
  const failedThenOk = [...failFirst].filter((id) => byEvent.get(id)?.some((d) => d.status < 300));
  r.check('the receiver failed first attempts, and those events came again under the same id',
    failFirst.size > 0 && failedThenOk.length === failFirst.size,
    `${failedThenOk.length} of ${failFirst.size} retried to 2xx`);
  // The down window met deliveries: the pods logged attempts that got no answer at all.
  const refused = pods.logs.filter(({ line }) => line.includes('"event":"webhook_attempt"') &&
    /"outcome":"retry"/.test(line) && /"error":"[^"]/.test(line)).length;
  r.check('attempts met the receiver down and came again', refused > 0, `${refused} attempts without an answer`);
  const seqs = new Map();
  for (const [id, ds] of byEvent) seqs.set(ds[0].event?.sequence, [...(seqs.get(ds[0].event?.sequence) || []), id]);
  const seqClash = [...seqs].filter(([, ids]) => ids.length > 1);
  r.check('one sequence number per event id', seqClash.length === 0, JSON.stringify(seqClash.slice(0, 2)));

  const { overlap, logins } = await pods.overlapMs();
  r.check('wasim: no overlap of two logins', overlap === 0, `overlap ${overlap} ms over ${logins} logins`);
  const undecrypted = peer.received.filter((m) => m.error).length + peer.decryptFailures().length;
  r.check('Baileys decrypted everything', undecrypted === 0, JSON.stringify(peer.decryptFailures().slice(0, 3)));
  const podFailures = pods.logs.filter(({ line }) => /"outcome":"failed"|decrypt_failed/.test(line));
  r.check('no pod logged a decryption failure', podFailures.length === 0, podFailures.slice(0, 3).map((x) => x.line).join('\n'));

  const attempts = rx.deliveries.length;
  console.log(`exactly_once: inbound sent=${inIds.size} inbox=${countIn.size} events=${inEvents.size} lost=${inLost.length} ` +
    `doubled=${inDoubled.length}; outbound keys=${posts.length} posts=${posts.length * 2} ids=${outIds.size} ` +
    `baileys=${copies.size} resent_same_id=${resent.length} delivered=${outIds.size - undelivered.length}`);
  console.log(`exactly_once: webhook attempts=${attempts} events=${byEvent.size} retried=${retried.length} ` +
    `failed_first=${failFirst.size} receiver_down=${downs} refused_attempts=${refused} signatures_ok=${attempts - unsigned.length}/${attempts}; ` +
    `kills=${faults.map((f) => `${f.pod}:${f.logged_in_ms ?? 'none'}ms`).join(',')} logins=${logins} overlap_ms=${overlap} ` +
    `run_s=${((Date.now() - t0) / 1000).toFixed(1)}`);
} finally {
  if (peer) await peer.end();
  if (rx) await rx.close();
  await pods.close();
}
if (r.failed) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'waconn-drill-'));
  writeFileSync(path.join(dir, 'pods.log'), pods.logs.map((x) => `${x.pod}: ${x.line}`).join('\n'));
  writeFileSync(path.join(dir, 'wasim.log'), sim.log.join('\n'));
  writeFileSync(path.join(dir, 'drill.json'), JSON.stringify({ deliveries: rx?.deliveries, received: peer?.received,
    inboundSent, posts: posts.map((p) => ({ ...p, answers: p.answers.map((a) => ({ status: a.status, text: a.text, pod: a.pod?.name })) })),
    faults }, null, 1));
  r.note(`logs kept in ${dir}`);
}
r.finish();
process.exit(process.exitCode ?? 0);
