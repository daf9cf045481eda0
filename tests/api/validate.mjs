// Validates docs/openapi.yaml (OpenAPI 3.1) and, when given, recorded live answers against it.
//   node validate.mjs SPEC                      the spec alone
//   node validate.mjs SPEC CALLS.json           also every recorded call: its status must be
//                                               documented and its JSON body match the schema;
//                                               every operation of the spec must appear
// CALLS.json: [{"method","path","status","content_type","body"}...]. Exit 0 = all good.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { validate, dereference, compileErrors } from "@readme/openapi-parser";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [specPath, callsPath] = process.argv.slice(2);
if (!specPath) {
  console.error("usage: node validate.mjs SPEC [CALLS.json]");
  process.exit(2);
}
const text = readFileSync(specPath, "utf8");
const doc = parseYaml(text);
if (doc.openapi !== "3.1.0") {
  console.error(`expected openapi 3.1.0, found ${doc.openapi}`);
  process.exit(1);
}
const result = await validate(structuredClone(doc));
if (!result.valid) {
  console.error(compileErrors(result));
  process.exit(1);
}
console.log(`spec valid: ${Object.keys(doc.paths).length} paths`);
if (!callsPath) process.exit(0);

const spec = await dereference(structuredClone(doc));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

const templates = Object.keys(spec.paths).map((t) => ({
  template: t,
  re: new RegExp("^" + t.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}]+\}/g, "[^/]+") + "$"),
}));

function check(call) {
  const match = templates.filter((t) => t.re.test(call.path));
  // The most literal template wins (/v1/accounts over /v1/accounts/{id} and so on).
  match.sort((a, b) => b.template.replace(/\{[^}]+\}/g, "").length - a.template.replace(/\{[^}]+\}/g, "").length);
  if (match.length === 0) return { op: null, error: `no path in the spec matches ${call.path}` };
  const tpl = match[0].template;
  const op = spec.paths[tpl][call.method.toLowerCase() === "head" ? "get" : call.method.toLowerCase()];
  const key = `${call.method} ${tpl}`;
  if (!op) {
    // Methods the spec does not list must be refused (405) or unauthenticated (401).
    if (call.status === 405 || call.status === 401 || call.status === 404) return { op: null, error: null };
    return { op: null, error: `${key}: method not in the spec but answered ${call.status}` };
  }
  const resp = op.responses[String(call.status)] ?? op.responses.default;
  if (!resp) return { op: key, error: `${key}: status ${call.status} is not documented` };
  const ct = (call.content_type || "").split(";")[0].trim();
  if (!resp.content) return { op: key, error: null };
  const media = resp.content[ct];
  if (!media) return { op: key, error: `${key} ${call.status}: content type '${ct}' is not documented` };
  if (ct === "text/event-stream" && media["x-sse-data"]) {
    // Every SSE event's data line must match the documented schema; at least one must come.
    const v = ajv.compile(media["x-sse-data"]);
    const lines = (call.body || "").split("\n").filter((l) => l.startsWith("data: "));
    if (lines.length === 0) return { op: key, error: `${key} ${call.status}: no SSE data line recorded` };
    for (const l of lines) {
      let data;
      try {
        data = JSON.parse(l.slice(6));
      } catch (e) {
        return { op: key, error: `${key} ${call.status}: SSE data is not JSON: ${e.message}` };
      }
      if (!v(data)) return { op: key, error: `${key} ${call.status}: SSE data: ${ajv.errorsText(v.errors)}` };
    }
    return { op: key, error: null };
  }
  if (ct !== "application/json") return { op: key, error: null };
  let body;
  try {
    body = JSON.parse(call.body);
  } catch (e) {
    return { op: key, error: `${key} ${call.status}: body is not JSON: ${e.message}` };
  }
  const v = ajv.compile(media.schema);
  if (!v(body))
    return { op: key, error: `${key} ${call.status}: ${ajv.errorsText(v.errors)} in ${call.body.slice(0, 300)}` };
  return { op: key, error: null };
}

// The validator must be able to fail: a wrong answer is refused.
const wrong = check({ method: "GET", path: "/v1/accounts/biz", status: 200, content_type: "application/json",
                      body: JSON.stringify({ business_id: "biz", epoch: "one" }) });
if (!wrong.error) {
  console.error("self-check failed: a wrong Account body was accepted");
  process.exit(1);
}

const calls = JSON.parse(readFileSync(callsPath, "utf8"));
const errors = [];
const seen = new Set();
for (const c of calls) {
  const r = check(c);
  if (r.op) seen.add(r.op);
  if (r.error) errors.push(r.error);
}
for (const [tpl, item] of Object.entries(spec.paths))
  for (const m of ["get", "post", "put", "patch", "delete"])
    if (item[m] && !seen.has(`${m.toUpperCase()} ${tpl}`)) errors.push(`${m.toUpperCase()} ${tpl}: never exercised`);
if (errors.length) {
  for (const e of errors) console.error(e);
  process.exit(1);
}
console.log(`${calls.length} live answers match the spec; ${seen.size} operations exercised`);
