// What a Baileys socket needs besides its URL, kept in memory: a silent pino-like logger and a
// Signal key store. The key store outlives a socket, so a new socket made from the same credentials
// and keys is a restart with saved credentials.

// Baileys wants a pino-like logger; a silent one keeps test output to our own lines.
export const silentLogger = {
  level: 'silent',
  child() { return silentLogger; },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};

// A plain in-memory Signal key store: get(type, ids) / set({type: {id: value|null}}).
export function memoryKeys() {
  const data = new Map();
  return {
    async get(type, ids) {
      const out = {};
      for (const id of ids) if (data.has(`${type}/${id}`)) out[id] = data.get(`${type}/${id}`);
      return out;
    },
    async set(obj) {
      for (const type of Object.keys(obj)) {
        for (const id of Object.keys(obj[type])) {
          const v = obj[type][id];
          if (v === null || v === undefined) data.delete(`${type}/${id}`); else data.set(`${type}/${id}`, v);
        }
      }
    },
  };
}
