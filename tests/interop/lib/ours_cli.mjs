// Drives waconnector's codec CLI: `waconnector node encode|decode --dict 2|3 --batch`
// (one JSON node / hex string per stdin line -> one hex string / JSON node per stdout line,
// failures as {"error": ...} lines), so thousands of nodes cost one process.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

// Binaries come from env WACONN_BIN_DIR (scripts/test.sh), else from `--bin-dir DIR`
// (ctest passes ${CMAKE_BINARY_DIR}/bin).
export function binDir(argv = process.argv) {
  if (process.env.WACONN_BIN_DIR) return process.env.WACONN_BIN_DIR;
  const i = argv.indexOf('--bin-dir');
  if (i >= 0 && argv[i + 1]) return argv[i + 1];
  throw new Error('set WACONN_BIN_DIR or pass --bin-dir DIR (the build\'s bin/ directory)');
}

export function binary(name, argv = process.argv) {
  const p = path.join(binDir(argv), name);
  if (!existsSync(p)) throw new Error(`${p} does not exist: build the '${name}' target first`);
  return p;
}

// Runs one batch; resolves to one output line per input line, in order.
export function runBatch(exe, args, lines, { timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    let partial = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(exe)} ${args.join(' ')}: no answer within ${timeoutMs} ms (${out.length}/${lines.length} lines)`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        out.push(partial.slice(0, nl).replace(/\r$/, ''));
        partial = partial.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => { if (stderr.length < 20000) stderr += c; });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (partial.length) out.push(partial);
      if (code !== 0 || out.length !== lines.length) {
        reject(new Error(`${path.basename(exe)} ${args.join(' ')} exited ${signal || code} after ` +
          `${out.length}/${lines.length} output lines; stderr: ${stderr.slice(0, 2000)}`));
        return;
      }
      resolve(out);
    });
    // EPIPE when the child dies early is reported through 'close' above.
    child.stdin.on('error', () => {});
    child.stdin.end(lines.join('\n') + '\n');
  });
}

// Parses a batch output line: {"error": ...} or the expected value.
export function parseEncodeLine(line) {
  const s = line.trim();
  if (s.startsWith('{')) {
    const o = JSON.parse(s);
    return { error: o.error ?? s };
  }
  if (!/^[0-9a-fA-F]*$/.test(s) || s.length % 2) return { error: `not hex: ${s.slice(0, 200)}` };
  return { hex: s.toLowerCase() };
}

export function parseDecodeLine(line) {
  let o;
  try { o = JSON.parse(line); } catch (e) { return { error: `not JSON: ${line.slice(0, 200)}` }; }
  if (o && typeof o === 'object' && 'error' in o && !('tag' in o)) return { error: o.error };
  return { node: o };
}

export async function oursEncode(dict, nodes) {
  const exe = binary('waconnector');
  const lines = await runBatch(exe, ['node', 'encode', '--dict', String(dict), '--batch'],
    nodes.map((n) => JSON.stringify(n)));
  return lines.map(parseEncodeLine);
}

export async function oursDecode(dict, hexes) {
  const exe = binary('waconnector');
  const lines = await runBatch(exe, ['node', 'decode', '--dict', String(dict), '--batch'], hexes);
  return lines.map(parseDecodeLine);
}
