#!/usr/bin/env node
// A Baileys peer on wasim, for tests and demos that exchange messages with a waconnector account
// (usage: tests/interop/README.md, "peer.mjs"). Every line it prints on stdout is one JSON object:
//   {"event":"ready","baileys":"7","phone":"+1555...","me":"1555...:1@s.whatsapp.net","lid":"...@lid"}
//   {"event":"message","id","chat","chat_alt","from","from_me","text","type","error"}   (error: null = decrypted)
//   {"event":"receipt","id","chat","status"}   (status 2 server ack, 3 delivered, 4 read)
//   {"event":"sent","id","to"}
//   {"event":"error","error"}
// Exit status: 0 done, 1 failure (wait-text timed out, login failed), 2 bad usage (one line on stderr).
import { readFileSync } from 'node:fs';
import readline from 'node:readline';
import { openPeer } from './lib/peer.mjs';

const USAGE = `usage: node peer.mjs COMMAND --phone +NUMBER --auth DIR [--baileys 7|6] [--ws URL] [--admin URL]
commands:
  pair                          pair with the phone (QR through wasim) if DIR holds no credentials, log in, exit
  send --to JID (--text T | --text-file F) [--wait-ms N]
                                send one text, wait N ms (default 2000) for receipts, exit
  wait-text (--text T | --text-file F) [--from JID] [--timeout-ms N]
                                exit 0 once a message with that text arrived (1 after N ms, default 30000)
  listen [--duration-ms N]      print what arrives for N ms (default: until stdin closes)
  run                           print what arrives; read commands from stdin, one JSON object a line:
                                {"cmd":"send","to":JID,"text":T} | {"cmd":"quit"}
--ws / --admin default to env WASIM_WS_URL / WASIM_ADMIN_URL (wasim's ws_url and admin_url log fields).
Everything received is printed as JSON lines in every command.`;

function usage(why) {
  process.stderr.write(`peer.mjs: ${why}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') { process.stdout.write(`${USAGE}\n`); process.exit(cmd ? 0 : 2); }
  const known = new Set(['phone', 'auth', 'baileys', 'ws', 'admin', 'to', 'text', 'text-file', 'from', 'timeout-ms',
    'duration-ms', 'wait-ms', 'log']);
  const opts = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) usage(`unexpected argument '${a}'`);
    const name = a.slice(2);
    if (!known.has(name)) usage(`unknown flag --${name}`);
    if (i + 1 >= rest.length) usage(`--${name} needs a value`);
    if (name in opts) usage(`--${name} given twice`);
    opts[name] = rest[++i];
  }
  return { cmd, opts };
}

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function number(opts, name, dflt) {
  if (!(name in opts)) return dflt;
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < 0) usage(`--${name} must be a non-negative integer`);
  return v;
}

function textOf(opts, required) {
  if ('text' in opts && 'text-file' in opts) usage('give --text or --text-file, not both');
  if ('text-file' in opts) return readFileSync(opts['text-file'], 'utf8');
  if ('text' in opts) return opts.text;
  if (required) usage('--text or --text-file is required');
  return null;
}

const { cmd, opts } = parseArgs(process.argv.slice(2));
if (!['pair', 'send', 'wait-text', 'listen', 'run'].includes(cmd)) usage(`unknown command '${cmd}'`);
const wsUrl = opts.ws || process.env.WASIM_WS_URL;
const adminUrl = (opts.admin || process.env.WASIM_ADMIN_URL || '').replace(/\/$/, '');
if (!wsUrl || !adminUrl) usage('--ws and --admin (or WASIM_WS_URL / WASIM_ADMIN_URL) are required');
if (!opts.phone || !/^\+?\d{7,15}$/.test(opts.phone)) usage('--phone +DIGITS is required (7-15 digits)');
if (!opts.auth) usage('--auth DIR is required (Baileys keeps its credentials and Signal sessions there)');
const version = opts.baileys || '7';
if (version !== '6' && version !== '7') usage('--baileys must be 6 or 7');
if (cmd === 'send' && !opts.to) usage('send needs --to JID');
const want = cmd === 'wait-text' ? textOf(opts, true) : null;
const sendText = cmd === 'send' ? textOf(opts, true) : null;
const phone = opts.phone.startsWith('+') ? opts.phone : `+${opts.phone}`;

let matched = null;
let peer;
try {
  peer = await openPeer({
    version, wsUrl, adminUrl, phone, authDir: opts.auth, echoLog: opts.log,
    onMessage: (m) => {
      out({ event: 'message', ...m });
      if (want !== null && !matched && m.text === want && (!opts.from || m.from === opts.from || m.chat === opts.from)) matched = m;
    },
    onReceipt: (r) => out({ event: 'receipt', ...r }),
  });
} catch (e) {
  out({ event: 'error', error: String(e?.message || e) });
  process.exit(1);
}
out({ event: 'ready', baileys: version, phone, me: peer.me, lid: peer.lid });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let status = 0;
try {
  if (cmd === 'send') {
    const id = await peer.send(opts.to, sendText);
    out({ event: 'sent', id, to: opts.to });
    await sleep(number(opts, 'wait-ms', 2000));
  } else if (cmd === 'wait-text') {
    const hit = await peer.waitFor((m) => m === matched || (m.text === want &&
      (!opts.from || m.from === opts.from || m.chat === opts.from)), number(opts, 'timeout-ms', 30000));
    if (!hit) { out({ event: 'error', error: 'timed out waiting for the text' }); status = 1; }
  } else if (cmd === 'listen' && 'duration-ms' in opts) {
    await sleep(number(opts, 'duration-ms', 0));
  } else if (cmd === 'listen' || cmd === 'run') {
    const rl = readline.createInterface({ input: process.stdin });
    for await (const line of rl) {
      if (cmd !== 'run' || !line.trim()) continue;
      let c;
      try { c = JSON.parse(line); } catch { out({ event: 'error', error: 'command is not JSON' }); continue; }
      if (c.cmd === 'quit') break;
      if (c.cmd === 'send' && typeof c.to === 'string' && typeof c.text === 'string') {
        try {
          out({ event: 'sent', id: await peer.send(c.to, c.text), to: c.to });
        } catch (e) { out({ event: 'error', error: String(e?.message || e) }); }
      } else {
        out({ event: 'error', error: 'unknown command (want {"cmd":"send","to","text"} or {"cmd":"quit"})' });
      }
    }
  }
} finally {
  await peer.end();
}
process.exit(status);
