// A loopback TCP proxy that delays server->client bytes by a fixed time, order kept: a stand-in
// for the network between a client and WhatsApp. Needed by Baileys 6, which drops a frame that
// arrives before its own ClientFinish write has completed (it switches its noise handler to
// transport mode only after `await ws.send(...)`, a race Baileys 7 fixed with a pending-frame
// buffer). With a real server at least one round trip away that never happens; with wasim on
// loopback it happens in about half of the connections.
import net from 'node:net';

export function startLatencyProxy(targetPort, delayMs) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client); sockets.add(upstream);
    let chain = Promise.resolve();
    client.pipe(upstream);
    upstream.on('data', (chunk) => {
      const due = Date.now() + delayMs;
      chain = chain.then(() => new Promise((res) => setTimeout(() => {
        if (!client.destroyed) client.write(chunk);
        res();
      }, Math.max(0, due - Date.now()))));
    });
    upstream.on('end', () => { chain = chain.then(() => client.end()); });
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', drop); upstream.on('error', drop);
    client.on('close', drop); upstream.on('close', () => { chain = chain.then(drop); });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({
      port: server.address().port,
      close: () => new Promise((res) => { for (const s of sockets) s.destroy(); server.close(() => res()); }),
    }));
  });
}
