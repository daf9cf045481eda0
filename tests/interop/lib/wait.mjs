// Waiting in the interop scripts and benches: a promise sleep, and polling a condition.
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Calls fn (sync or async) every `every` ms until it returns something truthy (returned) or `ms`
// passed (null).
export async function until(fn, ms, every = 100) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await sleep(every);
  }
  return null;
}
