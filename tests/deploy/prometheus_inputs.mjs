// Inputs for promtool and for the observability drill's Prometheus, made from the deploy files:
//   dashboard DASHBOARD.json METRICS_CPP OUT.yml [--self-test]
//       checks the Grafana dashboard (JSON, unique ids/titles, every panel has expressions, every
//       metric exported by common/metrics.cpp or announced, the metrics an operator needs are on
//       it) and writes every expression as a recording rule to OUT.yml for `promtool check rules`
//   dashboard-exprs DASHBOARD.json OUT.txt
//       every panel expression, one per line, with the Grafana variables replaced
//   drill-rules PROMETHEUSRULE.yaml OUT.yml FACTOR
//       the rule groups of the PrometheusRule with every `for:` divided by FACTOR (at least 2 s),
//       for a Prometheus that scrapes FACTOR times more often than production
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments, stringify } from "yaml";
import { ANNOUNCED_METRICS, metricNamesFromSource } from "./validate.mjs";

// What the dashboard must show (issue 12): leadership, failovers and takeover time, connection
// state and disconnect reasons, fencing, PostgreSQL errors and reachability, messages in/out and
// their latency, outbox and webhook backlog.
const REQUIRED_METRICS = [
  "waconnector_leader", "waconnector_leader_transitions_total", "waconnector_failover_seconds_bucket",
  "waconnector_connected", "waconnector_disconnects_total", "waconnector_fenced_total",
  "waconnector_store_writes_refused_total", "waconnector_lock_attempts_total",
  "waconnector_outbox_pending", "waconnector_webhook_dead_letters_total", "waconnector_decrypt_failures_total",
  "waconnector_messages_received_total", "waconnector_messages_sent_total",
  "waconnector_message_receive_latency_seconds_bucket", "waconnector_message_send_latency_seconds_bucket",
  "waconnector_webhook_pending", "waconnector_database_up",
];

// Grafana's variables, replaced by values any Prometheus accepts.
export function substitute(expr) {
  return expr.replaceAll("$__rate_interval", "1m").replaceAll("$__interval", "15s").replaceAll("$namespace", ".+");
}

function panelsOf(d) {
  const out = [];
  for (const p of d.panels || []) {
    out.push(p);
    for (const q of p.panels || []) out.push(q);  // collapsed rows keep their panels inside
  }
  return out;
}

export function checkDashboard(d, metricNames) {
  const errs = [];
  if (!d || typeof d !== "object") return ["dashboard is not a JSON object"];
  if (!d.title || !d.uid) errs.push("dashboard needs a title and a uid");
  const ids = new Set();
  const titles = new Set();
  const used = new Set();
  let exprs = 0;
  for (const p of panelsOf(d)) {
    if (ids.has(p.id)) errs.push(`panel id ${p.id} used twice`);
    ids.add(p.id);
    if (p.type === "row") continue;
    if (!p.title) errs.push(`panel ${p.id}: no title`);
    if (titles.has(p.title)) errs.push(`panel title '${p.title}' used twice`);
    titles.add(p.title);
    if (p.datasource?.uid !== "${datasource}") errs.push(`panel '${p.title}': datasource must be the \${datasource} variable`);
    if (!p.targets || p.targets.length === 0) errs.push(`panel '${p.title}': no targets`);
    for (const t of p.targets || []) {
      if (typeof t.expr !== "string" || t.expr.trim() === "") {
        errs.push(`panel '${p.title}' target ${t.refId}: no expr`);
        continue;
      }
      exprs++;
      if (/\n/.test(t.expr)) errs.push(`panel '${p.title}' target ${t.refId}: expr spans lines`);
      const names = [...t.expr.matchAll(/\b(waconnector_[a-z0-9_]+)/g)].map((m) => m[1]);
      if (names.length === 0) errs.push(`panel '${p.title}' target ${t.refId}: uses no waconnector metric`);
      for (const n of names) {
        used.add(n);
        if (!metricNames.has(n) && !ANNOUNCED_METRICS.includes(n))
          errs.push(`panel '${p.title}': metric ${n} is neither exported (common/metrics.cpp) nor announced`);
      }
      if (!t.expr.includes('namespace=~"$namespace"')) errs.push(`panel '${p.title}' target ${t.refId}: not filtered by the namespace variable`);
    }
  }
  for (const m of REQUIRED_METRICS) if (!used.has(m)) errs.push(`no panel shows ${m}`);
  if (exprs === 0) errs.push("no expressions at all");
  return errs;
}

export function exprsOf(d) {
  return panelsOf(d).flatMap((p) => (p.targets || []).map((t) => ({ panel: p.title, expr: substitute(t.expr) })));
}

function selfTest(d, metricNames) {
  const cases = [
    ["unknown metric", (x) => { x.panels[1].targets[0].expr = 'max(waconnector_leaders{namespace=~"$namespace"})'; }, /waconnector_leaders is neither/],
    ["panel without targets", (x) => { x.panels[1].targets = []; }, /no targets/],
    ["duplicate id", (x) => { x.panels[2].id = x.panels[1].id; }, /used twice/],
    ["required metric gone", (x) => { for (const p of panelsOf(x)) p.targets = (p.targets || []).filter((t) => !t.expr.includes("waconnector_fenced_total")); }, /no panel shows waconnector_fenced_total/],
    ["no namespace filter", (x) => { x.panels[1].targets[0].expr = "max by (pod) (waconnector_leader)"; }, /namespace variable/],
  ];
  let failed = 0;
  for (const [name, mutate, want] of cases) {
    const x = structuredClone(d);
    mutate(x);
    const errs = checkDashboard(x, metricNames);
    if (!errs.some((e) => want.test(e))) {
      failed++;
      console.log(`FAIL self-test '${name}': got ${errs.join("; ") || "(none)"}`);
    } else console.log(`ok   self-test '${name}'`);
  }
  return failed;
}

function durationSeconds(s) {
  let total = 0;
  const re = /(\d+)(ms|s|m|h|d)/g;
  let m;
  let seen = "";
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
    seen += m[0];
  }
  if (seen !== s) throw new Error(`unsupported duration '${s}'`);
  return total;
}

function main() {
  const [mode, input, ...rest] = process.argv.slice(2);
  if (mode === "dashboard") {
    const [metricsCpp, out] = rest;
    const d = JSON.parse(readFileSync(input, "utf8"));
    const names = metricNamesFromSource(readFileSync(metricsCpp, "utf8"));
    if (rest.includes("--self-test")) process.exit(selfTest(d, names) === 0 ? 0 : 1);
    const errs = checkDashboard(d, names);
    for (const e of errs) console.log(`ERROR ${e}`);
    const rules = exprsOf(d).map((x, i) => ({ record: `dashboard:panel_${i}`, expr: x.expr }));
    writeFileSync(out, stringify({ groups: [{ name: "dashboard", rules }] }));
    console.log(`dashboard: ${panelsOf(d).length} panels, ${rules.length} expressions: ${errs.length === 0 ? "ok" : `${errs.length} error(s)`}`);
    process.exit(errs.length === 0 ? 0 : 1);
  } else if (mode === "dashboard-exprs") {
    const d = JSON.parse(readFileSync(input, "utf8"));
    writeFileSync(rest[0], exprsOf(d).map((x) => x.expr).join("\n") + "\n");
  } else if (mode === "drill-rules") {
    const [out, factorText] = rest;
    const factor = Number(factorText);
    if (!(factor >= 1)) throw new Error("FACTOR must be a number >= 1");
    const pr = parseAllDocuments(readFileSync(input, "utf8")).map((x) => x.toJS()).find((o) => o?.kind === "PrometheusRule");
    if (!pr) throw new Error(`no PrometheusRule in ${input}`);
    for (const g of pr.spec.groups)
      for (const r of g.rules)
        if (r.for) r.for = `${Math.max(2, Math.round(durationSeconds(r.for) / factor))}s`;
    writeFileSync(out, stringify({ groups: pr.spec.groups }));
  } else {
    console.error("usage: prometheus_inputs.mjs dashboard|dashboard-exprs|drill-rules ...");
    process.exit(2);
  }
}

main();
