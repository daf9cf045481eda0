// A webhook receiver on 127.0.0.1 for drills, the demo and bench/api: it checks every POST as a
// Standard Webhooks consumer would (webhook-id, webhook-timestamp within 5 minutes, and a v1
// signature = base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the base64 key after
// "whsec_"; during a rotation one of the space-separated signatures must match) with its own
// HMAC, not the connector's code. Node built-ins only, so the demo needs no npm install.
//   const rx = await startReceiver({ secret, answer: (d) => 200 });
//   rx.url; rx.deliveries; rx.summary(); await rx.down(2000); await rx.close();
// GET {url}/summary answers rx.summary() as JSON.
// `answer(delivery)` picks the status (a number, or {status, headers}); the default is 200.
import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const TOLERANCE_S = 300;

// Whether `header` (webhook-signature) holds a v1 signature of id.timestamp.body under `secret`.
export function verifySignature(secret, id, timestamp, body, header) {
  if (!secret?.startsWith('whsec_') || !header) return false;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const want = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
  return header.split(' ').some((sig) => {
    const [version, b64] = sig.split(',');
    if (version !== 'v1' || !b64) return false;
    const got = Buffer.from(b64, 'base64');
    return got.length === want.length && timingSafeEqual(got, want);
  });
}

export function startReceiver({ secret = null, port = 0, answer = () => 200 } = {}) {
  const rx = {
    secret,
    deliveries: [],  // every POST: {at, id, timestamp, signed, fresh, status, event (parsed body or null)}
    port: 0,
    url: null,
    waiters: new Set(),
  };
  const wake = () => { for (const w of [...rx.waiters]) w(); };
  const sockets = new Set();
  const handler = (req, res) => {
    if (req.method === 'GET') {  // GET .../summary: what arrived so far (for scripts)
      res.writeHead(req.url.endsWith('/summary') ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(rx.summary()));
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const id = req.headers['webhook-id'] || null;
      const timestamp = req.headers['webhook-timestamp'] || null;
      const d = {
        at: Date.now(), id, timestamp,
        signed: null,  // true/false; null: no secret known yet (rx.secret may be a function)
        fresh: Math.abs(Date.now() / 1000 - Number(timestamp)) <= TOLERANCE_S,
        status: 200,
        event: null,
      };
      const secret = typeof rx.secret === 'function' ? rx.secret() : rx.secret;
      if (secret) d.signed = verifySignature(secret, id, timestamp, body, req.headers['webhook-signature']);
      try { d.event = JSON.parse(body.toString('utf8')); } catch { /* not JSON: event stays null */ }
      let a = 200;
      try { a = answer(d); } catch { a = 500; }
      const { status, headers = {} } = typeof a === 'number' ? { status: a } : a;
      d.status = status;
      rx.deliveries.push(d);
      res.writeHead(status, { 'content-type': 'text/plain', ...headers });
      res.end(status < 300 ? 'ok' : 'no');
      wake();
    });
  };
  let server = null;
  const listen = (p) => new Promise((resolve, reject) => {
    server = http.createServer(handler);
    server.keepAliveTimeout = 1000;
    server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    server.once('error', reject);
    server.listen(p, '127.0.0.1', () => resolve(server.address().port));
  });
  const closeServer = () => new Promise((resolve) => {
    if (!server) { resolve(); return; }
    server.close(() => resolve());
    for (const s of sockets) s.destroy();
    server = null;
  });
  // Down for `ms`: the port refuses connections, then the receiver listens on it again.
  rx.down = async (ms) => {
    await closeServer();
    await new Promise((r) => setTimeout(r, ms));
    await listen(rx.port);
  };
  rx.close = closeServer;
  // Resolves with the deliveries once pred(deliveries) holds, or null after `ms`.
  rx.waitFor = (pred, ms) => new Promise((resolve) => {
    const timer = setTimeout(() => { rx.waiters.delete(look); resolve(null); }, ms);
    const look = () => {
      if (pred(rx.deliveries)) { clearTimeout(timer); rx.waiters.delete(look); resolve(rx.deliveries); }
    };
    rx.waiters.add(look);
    look();
  });
  // Per event id: the deliveries (attempts) that reached this receiver.
  rx.byEvent = () => {
    const m = new Map();
    for (const d of rx.deliveries) m.set(d.id, [...(m.get(d.id) || []), d]);
    return m;
  };
  // Counts: attempts, events, valid signatures, events that needed more than one attempt, and
  // per message.received text the event ids it came under (one each expected).
  rx.summary = () => {
    const events = rx.byEvent();
    const texts = new Map();
    for (const d of rx.deliveries) {
      if (d.event?.type !== 'message.received' || d.status >= 300) continue;
      const t = d.event.data?.text;
      texts.set(t, new Set([...(texts.get(t) || []), d.id]));
    }
    const types = {};
    for (const [, ds] of events) types[ds[0].event?.type] = (types[ds[0].event?.type] || 0) + 1;
    return {
      attempts: rx.deliveries.length,
      events: events.size,
      signatures_checked: rx.deliveries.filter((d) => d.signed !== null).length,
      signatures_valid: rx.deliveries.filter((d) => d.signed && d.fresh).length,
      retried_events: [...events.values()].filter((ds) => ds.length > 1).length,
      types,
      received_texts: texts.size,
      received_texts_twice: [...texts].filter(([, ids]) => ids.size > 1).map(([t]) => t),
      // messages with a `delivered` status event taken (2xx)
      delivered_statuses: new Set(rx.deliveries.filter((d) => d.status < 300 && d.event?.type === 'message.status' &&
        d.event.data?.status === 'delivered').map((d) => d.event.data.id)).size,
    };
  };
  return listen(port).then((p) => {
    rx.port = p;
    rx.url = `http://127.0.0.1:${p}/hooks/waconnector`;
    return rx;
  });
}
