// Offline validation of deploy/k8s:
//  - every document against the Kubernetes / prometheus-operator schemas (kubernetes-models),
//  - a key whitelist, because those schemas allow unknown (misspelt) fields,
//  - the properties the HA design depends on (replicas, probes, grace period, POD_NAME, ...),
//  - alert expressions only use metrics the binary exports (common/metrics.cpp) or the announced
//    metrics of messaging and the API (ANNOUNCED_METRICS),
//  - the image is the one scripts/image.sh tags (waconnector:<project version>), run by its entrypoint,
//  - the NetworkPolicy admits only the HTTP port and egress to DNS, PostgreSQL and 443,
//  - every overlay in deploy/overlays: its patches (applied here with a small strategic merge:
//    maps merged, lists of named items merged by name) give manifests that pass all of the above.
// Usage: node validate.mjs K8S_DIR METRICS_CPP [--emit-rules OUT.yml] [--self-test]
import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseAllDocuments, stringify } from "yaml";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as policy from "kubernetes-models/policy/v1";
import * as networking from "kubernetes-models/networking.k8s.io/v1";
import * as monitoring from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const MODELS = { v1: core, "apps/v1": apps, "policy/v1": policy, "networking.k8s.io/v1": networking,
                 "monitoring.coreos.com/v1": monitoring };

// Maps whose keys are data, not schema fields.
const FREEFORM = new Set(["labels", "annotations", "matchLabels", "stringData", "data"]);

// Every field name the project's manifests may use. A new field goes here on purpose; a typo
// ("protocl", "readinesProbe") fails the check.
const KNOWN_KEYS = new Set(`
apiVersion kind metadata name labels annotations spec data stringData type
automountServiceAccountToken
clusterIP publishNotReadyAddresses selector ports port targetPort protocol
serviceName replicas podManagementPolicy updateStrategy matchLabels template
serviceAccountName terminationGracePeriodSeconds securityContext runAsNonRoot runAsUser runAsGroup
fsGroup seccompProfile affinity podAntiAffinity preferredDuringSchedulingIgnoredDuringExecution
weight podAffinityTerm topologyKey labelSelector topologySpreadConstraints maxSkew whenUnsatisfiable
initContainers containers image imagePullPolicy command args env value valueFrom secretKeyRef key
fieldRef fieldPath resources requests limits cpu memory allowPrivilegeEscalation
readOnlyRootFilesystem capabilities drop containerPort startupProbe livenessProbe readinessProbe
httpGet path periodSeconds timeoutSeconds failureThreshold volumeMounts mountPath volumes emptyDir
sizeLimit maxUnavailable podMetricsEndpoints interval scrapeTimeout groups rules alert expr for
minReadySeconds unhealthyPodEvictionPolicy
readOnly secret secretName defaultMode
podSelector policyTypes ingress egress from to namespaceSelector ipBlock cidr except
`.split(/\s+/).filter(Boolean));

const REQUIRED_ALERTS = [
  "WaconnectorNoLeader", "WaconnectorMultipleLeaders", "WaconnectorLeaderFlapping",
  "WaconnectorFencingRefusals", "WaconnectorFenced", "WaconnectorStreamReplaced", "WaconnectorLoggedOut",
  "WaconnectorLockErrors", "WaconnectorAbsent", "WaconnectorDatabaseDown",
  "WaconnectorOutboxBacklog", "WaconnectorWebhookDeadLetters", "WaconnectorDecryptFailures",
];
// Metrics that messaging and the API will export (docs/operations.md lists them as announced);
// alerts and the dashboard may use them before common/metrics.cpp registers them.
export const ANNOUNCED_METRICS = [
  "waconnector_outbox_pending", "waconnector_webhook_dead_letters_total", "waconnector_decrypt_failures_total",
];
// The image scripts/image.sh builds: name and tag, and its entrypoint is the binary.
const IMAGE_NAME = "waconnector";
const SHUTDOWN_DEADLINE_S = 10;  // waconnector run --shutdown-timeout default

export function loadDir(dir) {
  const docs = [];
  const errors = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    const text = readFileSync(path.join(dir, file), "utf8");
    for (const d of parseAllDocuments(text, { uniqueKeys: true })) {
      for (const e of d.errors) errors.push(`${file}: YAML: ${e.message}`);
      const obj = d.toJS();
      if (obj != null) docs.push({ file, obj });
    }
  }
  return { docs, errors };
}

// kustomize's strategic merge for the shapes our patches use: maps merge, lists of objects with
// a `name` merge item by item, anything else replaces.
function strategicMerge(base, patch) {
  for (const [k, v] of Object.entries(patch)) {
    const b = base[k];
    if (Array.isArray(v) && Array.isArray(b) && v.every((x) => x && typeof x === "object" && "name" in x)) {
      for (const item of v) {
        const at = b.find((x) => x && x.name === item.name);
        if (at) strategicMerge(at, item);
        else b.push(structuredClone(item));
      }
    } else if (v && typeof v === "object" && !Array.isArray(v) && b && typeof b === "object" && !Array.isArray(b)) {
      strategicMerge(b, v);
    } else {
      base[k] = structuredClone(v);
    }
  }
  return base;
}

// An overlay directory: its kustomization must build on ../../k8s; returns the base's documents
// with the overlay's patches applied, and what is wrong with the overlay itself.
export function loadOverlay(dir, baseDocs) {
  const errors = [];
  const file = path.join(dir, "kustomization.yaml");
  const name = path.basename(dir);
  const k = parseAllDocuments(readFileSync(file, "utf8"), { uniqueKeys: true })[0].toJS();
  if (JSON.stringify(k.resources) !== JSON.stringify(["../../k8s"]))
    errors.push(`overlay ${name}: resources must be exactly ["../../k8s"], got ${JSON.stringify(k.resources)}`);
  if (k.namespace) errors.push(`overlay ${name}: sets a namespace (manifests must be namespace-agnostic)`);
  const docs = baseDocs.map((d) => ({ file: d.file, obj: structuredClone(d.obj) }));
  for (const [i, p] of (k.patches || []).entries()) {
    const text = p.path ? readFileSync(path.join(dir, p.path), "utf8") : p.patch;
    if (typeof text !== "string") {
      errors.push(`overlay ${name}: patch ${i} has neither path nor patch`);
      continue;
    }
    const patch = parseAllDocuments(text, { uniqueKeys: true })[0].toJS();
    const unknown = [];
    walkKeys(patch, "", unknown, patch.kind);
    for (const u of unknown) errors.push(`overlay ${name}: patch ${i}: ${u}`);
    const target = docs.find((d) => d.obj.kind === patch.kind && d.obj.metadata?.name === patch.metadata?.name);
    if (!target) errors.push(`overlay ${name}: patch ${i} targets ${patch.kind}/${patch.metadata?.name}, which the base does not have`);
    else strategicMerge(target.obj, patch);
  }
  return { docs, errors, kustomization: k };
}

function walkKeys(node, at, out, kind) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => walkKeys(v, `${at}/${i}`, out, kind));
  } else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (!KNOWN_KEYS.has(k)) out.push(`${at}/${k}: unknown field '${k}' (typo? add it to KNOWN_KEYS if intended)`);
      // A Service's spec.selector is a plain label map (elsewhere selectors have matchLabels).
      const freeform = FREEFORM.has(k) || (kind === "Service" && at === "/spec" && k === "selector");
      if (!freeform) walkKeys(v, `${at}/${k}`, out, kind);
    }
  }
}

function labelsMatch(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels && labels[k] === v);
}

export function metricNamesFromSource(cpp) {
  const names = new Set();
  // Every metric name is a string literal of its own ("waconnector_..."), whether it is passed to
  // prometheus-cpp's .Name() or to common/metrics.cpp's builders; help texts never start with it.
  for (const m of cpp.matchAll(/"(waconnector_[a-z0-9_:]*)"/g)) {
    names.add(m[1]);
    for (const s of ["_bucket", "_sum", "_count"]) names.add(m[1] + s);
  }
  return names;
}

export function check(docs, metricNames, version) {
  const errs = [];
  const byKind = (k) => docs.filter((d) => d.obj.kind === k);
  const kustomization = byKind("Kustomization")[0];

  for (const { file, obj } of docs) {
    const where = `${file} ${obj.kind}/${obj.metadata?.name ?? "?"}`;
    if (obj.kind === "Kustomization") {
      if (obj.namespace) errs.push(`${where}: sets a namespace (manifests must be namespace-agnostic)`);
      continue;
    }
    const group = MODELS[obj.apiVersion];
    const Model = group && group[obj.kind];
    if (!Model) {
      errs.push(`${where}: no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`);
    } else {
      try {
        new Model(obj).validate();
      } catch (e) {
        for (const x of e.errors || [{ instancePath: "", message: String(e) }])
          errs.push(`${where}: schema: ${x.instancePath || "/"} ${x.message} ${JSON.stringify(x.params ?? {})}`);
      }
    }
    const unknown = [];
    walkKeys(obj, "", unknown, obj.kind);
    for (const u of unknown) errs.push(`${where}: ${u}`);
    if (obj.metadata?.namespace) errs.push(`${where}: metadata.namespace set (manifests must be namespace-agnostic)`);
    // *.example.yaml (the database Secret, the key-encryption key) are templates, never applied.
    if (kustomization && !file.endsWith(".example.yaml") && !(kustomization.obj.resources || []).includes(file))
      errs.push(`${where}: ${file} is not listed in kustomization.yaml`);
  }
  if (kustomization) {
    for (const r of kustomization.obj.resources || [])
      if (!docs.some((d) => d.file === r)) errs.push(`kustomization.yaml: resource ${r} does not exist`);
  } else {
    errs.push("kustomization.yaml missing");
  }

  const services = byKind("Service");
  const sts = byKind("StatefulSet")[0]?.obj;
  if (!sts) {
    errs.push("no StatefulSet");
    return errs;
  }
  const s = sts.spec || {};
  const podLabels = s.template?.metadata?.labels || {};
  const podSpec = s.template?.spec || {};
  const main = (podSpec.containers || [])[0] || {};
  const env = Object.fromEntries((main.env || []).map((e) => [e.name, e]));
  const portNames = new Set((main.ports || []).map((p) => p.name));
  if (s.replicas !== 3) errs.push(`StatefulSet: replicas is ${s.replicas}, want 3`);
  if (s.podManagementPolicy !== "Parallel") errs.push("StatefulSet: podManagementPolicy must be Parallel");
  if (!labelsMatch(s.selector?.matchLabels, podLabels)) errs.push("StatefulSet: selector does not match the pod labels");
  const governing = services.find((x) => x.obj.metadata.name === s.serviceName);
  if (!governing || governing.obj.spec?.clusterIP !== "None")
    errs.push(`StatefulSet: serviceName '${s.serviceName}' is not a headless Service in the set`);
  const grace = podSpec.terminationGracePeriodSeconds ?? 30;
  if (grace < 2 * SHUTDOWN_DEADLINE_S)
    errs.push(`StatefulSet: terminationGracePeriodSeconds ${grace} < 2x the ${SHUTDOWN_DEADLINE_S} s shutdown deadline`);
  if (env.POD_NAME?.valueFrom?.fieldRef?.fieldPath !== "metadata.name")
    errs.push("StatefulSet: POD_NAME must come from fieldRef metadata.name");
  if (!env.DATABASE_URL?.valueFrom?.secretKeyRef) errs.push("StatefulSet: DATABASE_URL must come from a Secret");
  if (env.DATABASE_URL?.value) errs.push("StatefulSet: DATABASE_URL must not be a literal value");
  // `run` refuses to start in Kubernetes without a key-encryption key (docs/security.md).
  const kek = env.WACONN_KEK_FILE?.value;
  const kekMount = kek && (main.volumeMounts || []).find((m) => kek.startsWith(m.mountPath + "/"));
  const kekVolume = kekMount && (podSpec.volumes || []).find((v) => v.name === kekMount.name);
  if (!kekVolume?.secret) errs.push("StatefulSet: WACONN_KEK_FILE must name a file in a mounted Secret");
  const probe = (name, p) => {
    const want = name === "readinessProbe" ? "/ready" : "/health";
    if (!p?.httpGet) return errs.push(`StatefulSet: ${name} missing (httpGet ${want})`);
    if (p.httpGet.path !== want) errs.push(`StatefulSet: ${name} path ${p.httpGet.path}, want ${want}`);
    if (typeof p.httpGet.port === "string" && !portNames.has(p.httpGet.port))
      errs.push(`StatefulSet: ${name} port '${p.httpGet.port}' is not a container port name`);
  };
  probe("livenessProbe", main.livenessProbe);
  probe("readinessProbe", main.readinessProbe);
  probe("startupProbe", main.startupProbe);
  if (!podSpec.affinity?.podAntiAffinity) errs.push("StatefulSet: no podAntiAffinity");
  for (const c of [...(podSpec.initContainers || []), ...(podSpec.containers || [])]) {
    const sc = c.securityContext || {};
    if (sc.readOnlyRootFilesystem !== true) errs.push(`container ${c.name}: readOnlyRootFilesystem must be true`);
    if (sc.allowPrivilegeEscalation !== false) errs.push(`container ${c.name}: allowPrivilegeEscalation must be false`);
    if (!(sc.runAsNonRoot === true || podSpec.securityContext?.runAsNonRoot === true))
      errs.push(`container ${c.name}: must run as non-root`);
    if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory)
      errs.push(`container ${c.name}: needs cpu/memory requests and a memory limit`);
  }
  const migrates = [...(podSpec.initContainers || [])].some((c) => (c.args || [])[0] === "migrate") ||
                   docs.some((d) => d.obj.kind === "Job");
  if (!migrates) errs.push("no migrate init container or Job");
  for (const c of [...(podSpec.initContainers || []), ...(podSpec.containers || [])]) {
    if (version && c.image !== `${IMAGE_NAME}:${version}`)
      errs.push(`container ${c.name}: image ${c.image}, want ${IMAGE_NAME}:${version} (what scripts/image.sh builds; retarget with kustomize images:)`);
    if (c.command) errs.push(`container ${c.name}: sets command; the image's ENTRYPOINT is the binary, use args only`);
  }

  // NetworkPolicy: in only to the HTTP port; out only to DNS, PostgreSQL and 443.
  const np = byKind("NetworkPolicy")[0]?.obj;
  if (!np) errs.push("no NetworkPolicy");
  else {
    const ns = np.spec || {};
    if (!labelsMatch(ns.podSelector?.matchLabels, podLabels) || !ns.podSelector?.matchLabels)
      errs.push("NetworkPolicy: podSelector does not select the pods");
    const types = ns.policyTypes || [];
    if (!types.includes("Ingress") || !types.includes("Egress")) errs.push("NetworkPolicy: policyTypes must be Ingress and Egress");
    const httpPort = (main.ports || []).find((p) => p.name === "http");
    for (const [i, r] of (ns.ingress || []).entries()) {
      if (!r.from || r.from.length === 0) errs.push(`NetworkPolicy: ingress ${i} admits every source`);
      for (const f of r.from || [])
        if (f.ipBlock) errs.push(`NetworkPolicy: ingress ${i} admits an ipBlock; only namespaces may reach the pods`);
      if (!r.ports || r.ports.length === 0) errs.push(`NetworkPolicy: ingress ${i} admits every port`);
      for (const p of r.ports || [])
        if (p.port !== "http" && p.port !== httpPort?.containerPort)
          errs.push(`NetworkPolicy: ingress ${i} admits port ${p.port}; only the http port`);
    }
    const allowed = new Set(["53/UDP", "53/TCP", "5432/TCP", "443/TCP"]);
    const seen = new Set();
    for (const [i, r] of (ns.egress || []).entries()) {
      if (!r.ports || r.ports.length === 0) errs.push(`NetworkPolicy: egress ${i} allows every port`);
      for (const p of r.ports || []) {
        const k = `${p.port}/${p.protocol || "TCP"}`;
        seen.add(k);
        if (!allowed.has(k) || p.endPort) errs.push(`NetworkPolicy: egress ${i} allows ${k}; only DNS, PostgreSQL and 443`);
      }
    }
    for (const k of allowed) if (!seen.has(k)) errs.push(`NetworkPolicy: egress to ${k} missing`);
  }

  const pdb = byKind("PodDisruptionBudget")[0]?.obj;
  if (!pdb) errs.push("no PodDisruptionBudget");
  else {
    if (pdb.spec?.maxUnavailable !== 1) errs.push("PodDisruptionBudget: maxUnavailable must be 1");
    if (!pdb.spec?.selector?.matchLabels || !labelsMatch(pdb.spec.selector.matchLabels, podLabels))
      errs.push("PodDisruptionBudget: selector does not match the pods");
  }
  for (const { obj } of services) {
    if (!labelsMatch(obj.spec?.selector, podLabels)) errs.push(`Service ${obj.metadata.name}: selector does not match the pods`);
    for (const p of obj.spec?.ports || [])
      if (typeof p.targetPort === "string" && !portNames.has(p.targetPort))
        errs.push(`Service ${obj.metadata.name}: targetPort '${p.targetPort}' is not a container port name`);
  }
  const pm = byKind("PodMonitor")[0]?.obj;
  if (!pm) errs.push("no PodMonitor");
  else {
    if (!labelsMatch(pm.spec?.selector?.matchLabels, podLabels)) errs.push("PodMonitor: selector does not match the pods");
    for (const ep of pm.spec?.podMetricsEndpoints || []) {
      if (!portNames.has(ep.port)) errs.push(`PodMonitor: port '${ep.port}' is not a container port name`);
      if (ep.path !== "/metrics") errs.push(`PodMonitor: path ${ep.path}, want /metrics`);
    }
  }
  const pr = byKind("PrometheusRule")[0]?.obj;
  if (!pr) errs.push("no PrometheusRule");
  else {
    const rules = (pr.spec?.groups || []).flatMap((g) => g.rules || []);
    for (const a of REQUIRED_ALERTS)
      if (!rules.some((r) => r.alert === a)) errs.push(`PrometheusRule: alert ${a} missing`);
    for (const r of rules) {
      for (const m of String(r.expr).matchAll(/\b(waconnector_[a-z0-9_]+)/g))
        if (metricNames && !metricNames.has(m[1]) && !ANNOUNCED_METRICS.includes(m[1]))
          errs.push(`PrometheusRule ${r.alert}: metric ${m[1]} is not exported by the binary`);
      if (r.alert && !r.annotations?.summary) errs.push(`PrometheusRule ${r.alert}: no summary annotation`);
      if (r.alert && !/^docs\/operations\.md#[a-z0-9-]+$/.test(r.annotations?.runbook_url ?? ""))
        errs.push(`PrometheusRule ${r.alert}: runbook_url must be docs/operations.md#anchor`);
      if (r.alert && !r.labels?.severity) errs.push(`PrometheusRule ${r.alert}: no severity label`);
    }
  }
  return errs;
}

// Deliberate mistakes that the checks above must catch: proves the validator can fail.
function selfTest(docs, metricNames, version, overlaysDir) {
  const clone = () => docs.map((d) => ({ file: d.file, obj: structuredClone(d.obj) }));
  const sts = (ds) => ds.find((d) => d.obj.kind === "StatefulSet").obj;
  const ctr = (ds) => sts(ds).spec.template.spec.containers[0];
  const np = (ds) => ds.find((d) => d.obj.kind === "NetworkPolicy").obj;
  const cases = [
    ["misspelt field", (ds) => { const p = ctr(ds).ports[0]; p.protocl = p.protocol; delete p.protocol; }, /unknown field 'protocl'/],
    ["replicas as a string", (ds) => { sts(ds).spec.replicas = "three"; }, /schema: \/spec\/replicas must be integer/],
    ["container without name", (ds) => { delete ctr(ds).name; }, /containers\/0 must have required property name/],
    ["two replicas", (ds) => { sts(ds).spec.replicas = 2; }, /replicas is 2, want 3/],
    ["OrderedReady", (ds) => { sts(ds).spec.podManagementPolicy = "OrderedReady"; }, /Parallel/],
    ["short grace period", (ds) => { sts(ds).spec.template.spec.terminationGracePeriodSeconds = 10; }, /terminationGracePeriodSeconds 10/],
    ["POD_NAME literal", (ds) => { ctr(ds).env.find((e) => e.name === "POD_NAME").valueFrom.fieldRef.fieldPath = "spec.nodeName"; }, /POD_NAME/],
    ["DATABASE_URL literal", (ds) => { ctr(ds).env.find((e) => e.name === "DATABASE_URL").value = "postgresql://x"; }, /literal/],
    ["readiness on /health", (ds) => { ctr(ds).readinessProbe.httpGet.path = "/health"; }, /readinessProbe path \/health/],
    ["probe on unknown port", (ds) => { ctr(ds).livenessProbe.httpGet.port = "metrics"; }, /port 'metrics'/],
    ["writable root fs", (ds) => { ctr(ds).securityContext.readOnlyRootFilesystem = false; }, /readOnlyRootFilesystem/],
    ["namespace set", (ds) => { sts(ds).metadata.namespace = "prod"; }, /namespace-agnostic/],
    ["PDB maxUnavailable 2", (ds) => { ds.find((d) => d.obj.kind === "PodDisruptionBudget").obj.spec.maxUnavailable = 2; }, /maxUnavailable must be 1/],
    ["PodMonitor wrong selector", (ds) => { ds.find((d) => d.obj.kind === "PodMonitor").obj.spec.selector.matchLabels = { app: "other" }; }, /PodMonitor: selector/],
    ["alert missing", (ds) => { const g = ds.find((d) => d.obj.kind === "PrometheusRule").obj.spec.groups[0]; g.rules = g.rules.filter((r) => r.alert !== "WaconnectorNoLeader"); }, /WaconnectorNoLeader missing/],
    ["unknown metric in alert", (ds) => { ds.find((d) => d.obj.kind === "PrometheusRule").obj.spec.groups[0].rules[0].expr = "waconnector_leaders == 0"; }, /waconnector_leaders is not exported/],
    ["other image tag", (ds) => { ctr(ds).image = "waconnector:latest"; }, /image waconnector:latest, want waconnector:/],
    ["command instead of entrypoint", (ds) => { ctr(ds).command = ["/bin/sh", "-c"]; }, /sets command/],
    ["no runbook_url", (ds) => { delete ds.find((d) => d.obj.kind === "PrometheusRule").obj.spec.groups[0].rules[0].annotations.runbook_url; }, /runbook_url/],
    ["NetworkPolicy gone", (ds) => ds.splice(ds.findIndex((d) => d.obj.kind === "NetworkPolicy"), 1), /no NetworkPolicy/],
    ["NetworkPolicy ingress on any port", (ds) => { delete np(ds).spec.ingress[0].ports; }, /ingress 0 admits every port/],
    ["NetworkPolicy ingress from anywhere", (ds) => { np(ds).spec.ingress[0].from = [{ ipBlock: { cidr: "0.0.0.0/0" } }]; }, /admits an ipBlock/],
    ["NetworkPolicy egress to SSH", (ds) => { np(ds).spec.egress[1].ports.push({ port: 22, protocol: "TCP" }); }, /allows 22\/TCP/],
    ["NetworkPolicy without PostgreSQL", (ds) => { np(ds).spec.egress.splice(1, 1); }, /egress to 5432\/TCP missing/],
    ["NetworkPolicy egress only", (ds) => { np(ds).spec.policyTypes = ["Egress"]; }, /policyTypes/],
    ["headless service gone", (ds) => { ds.find((d) => d.obj.kind === "Service" && d.obj.spec.clusterIP === "None").obj.spec.clusterIP = "10.0.0.1"; }, /not a headless Service/],
  ];
  let failed = 0;
  // Overlays: a patch that breaks a property, and a patch with a misspelt field.
  if (existsSync(path.join(overlaysDir, "fleet"))) {
    const ov = loadOverlay(path.join(overlaysDir, "fleet"), docs);
    strategicMerge(sts(ov.docs), { spec: { replicas: 2, template: { spec: { containers: [{ name: "waconnector", securityContext: { readOnlyRootFilesystem: false } }] } } } });
    const errs = check(ov.docs, metricNames, version);
    const ok = errs.some((e) => /replicas is 2/.test(e)) && errs.some((e) => /readOnlyRootFilesystem/.test(e)) &&
               ctr(ov.docs).resources.requests.memory === "256Mi";
    if (!ok) { failed++; console.log(`FAIL self-test 'overlay patch merged and checked': ${errs.join("; ")}`); }
    else console.log("ok   self-test 'overlay patch merged and checked'");
    const unknown = [];
    walkKeys({ spec: { template: { spec: { containers: [{ name: "x", envv: [] }] } } } }, "", unknown, "StatefulSet");
    if (!unknown.some((e) => /unknown field 'envv'/.test(e))) { failed++; console.log("FAIL self-test 'overlay typo'"); }
    else console.log("ok   self-test 'overlay typo'");
  }
  for (const [name, mutate, want] of cases) {
    const ds = clone();
    mutate(ds);
    const errs = check(ds, metricNames, version);
    if (!errs.some((e) => want.test(e))) {
      failed++;
      console.log(`FAIL self-test '${name}': no error matching ${want}; got:\n  ${errs.join("\n  ") || "(none)"}`);
    } else {
      console.log(`ok   self-test '${name}'`);
    }
  }
  return failed;
}

function main() {
  const args = process.argv.slice(2);
  const [dir, metricsCpp] = args.filter((a) => !a.startsWith("--") && args[args.indexOf(a) - 1] !== "--emit-rules");
  if (!dir || !metricsCpp || !existsSync(dir) || !existsSync(metricsCpp)) {
    console.error("usage: node validate.mjs K8S_DIR METRICS_CPP [--emit-rules OUT.yml] [--self-test]");
    process.exit(2);
  }
  const metricNames = metricNamesFromSource(readFileSync(metricsCpp, "utf8"));
  const overlaysDir = path.join(dir, "..", "overlays");
  const overlays = existsSync(overlaysDir)
    ? readdirSync(overlaysDir).filter((d) => existsSync(path.join(overlaysDir, d, "kustomization.yaml"))).sort()
    : [];
  const cmake = readFileSync(path.join(path.dirname(metricsCpp), "..", "CMakeLists.txt"), "utf8");
  const version = (cmake.match(/project\(waconnector VERSION ([0-9.]+)/) || [])[1];
  if (!version) {
    console.error("no project version in CMakeLists.txt");
    process.exit(2);
  }
  if (metricNames.size === 0) {
    console.error(`no metric names found in ${metricsCpp}`);
    process.exit(2);
  }
  const { docs, errors } = loadDir(dir);
  if (args.includes("--self-test")) {
    const failed = selfTest(docs, metricNames, version, overlaysDir);
    console.log(`self-test: ${failed === 0 ? "every deliberate mistake caught" : `${failed} case(s) not caught`}`);
    process.exit(failed === 0 ? 0 : 1);
  }
  const errs = [...errors, ...check(docs, metricNames, version)];
  // Each overlay, patched onto the base, must pass every check too.
  const standbyWait = (ds) =>
    ds.find((d) => d.obj.kind === "StatefulSet").obj.spec.template.spec.containers[0].env?.find((e) => e.name === "STANDBY_WAIT")?.value;
  for (const o of overlays) {
    const ov = loadOverlay(path.join(overlaysDir, o), docs);
    const oerrs = [...ov.errors, ...check(ov.docs, metricNames, version).map((e) => `overlay ${o}: ${e}`)];
    if (o === "single-account" && standbyWait(ov.docs) !== "block") oerrs.push("overlay single-account: STANDBY_WAIT must be block");
    if (o === "fleet" && (standbyWait(ov.docs) ?? "poll") !== "poll") oerrs.push("overlay fleet: STANDBY_WAIT must be poll");
    console.log(`overlay ${o}: ${oerrs.length === 0 ? "ok" : `${oerrs.length} error(s)`}`);
    errs.push(...oerrs);
  }
  if (!overlays.includes("single-account") || !overlays.includes("fleet"))
    errs.push(`deploy/overlays must have single-account and fleet (found: ${overlays.join(", ") || "none"})`);
  for (const e of errs) console.log(`ERROR ${e}`);
  const out = args.indexOf("--emit-rules");
  if (out >= 0) {
    const pr = docs.find((d) => d.obj.kind === "PrometheusRule");
    writeFileSync(args[out + 1], stringify({ groups: pr.obj.spec.groups }));
  }
  console.log(`${docs.length} documents in ${dir}: ${errs.length === 0 ? "ok" : `${errs.length} error(s)`}`);
  process.exit(errs.length === 0 ? 0 : 1);
}

// Only as a program: prometheus_inputs.mjs imports the metric lists from here.
if (import.meta.url === pathToFileURL(process.argv[1]).href) main();
