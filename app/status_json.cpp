#include "app/status_json.h"

#include <fmt/format.h>

#include "common/log.h"
#include "common/mask.h"

namespace wa::app {
namespace {

void kv_str(std::string& out, const char* key, std::string_view v) {
  wa::log::append_json_string(out, key);
  out += ':';
  wa::log::append_json_string(out, v);
}

}  // namespace

std::string render_status_json(const PodStatus& s) {
  std::string out = "{";
  kv_str(out, "pod", s.pod);
  out += ',';
  kv_str(out, "version", s.version);
  out += fmt::format(",\"db_reachable\":{},\"elector_running\":{},\"share\":{{\"live_pods\":[",
                     s.db_reachable, s.elector_running);
  for (std::size_t i = 0; i < s.share.live_pods.size(); ++i) {
    if (i) out += ',';
    wa::log::append_json_string(out, s.share.live_pods[i]);
  }
  out += fmt::format(
      "],\"accounts\":{},\"fair_share\":{},\"leading\":{},\"targeted\":{},\"handovers\":{}}},\"accounts\":[",
      s.share.accounts, s.share.fair_share, s.share.leading, s.share.targeted, s.share.handovers);
  bool first = true;
  for (const auto& a : s.accounts) {
    if (!first) out += ',';
    first = false;
    out += '{';
    kv_str(out, "business_id", a.business_id);
    out += ',';
    kv_str(out, "role", a.role);
    out += fmt::format(",\"epoch\":{},\"since_unix_ms\":{},", a.epoch, a.since_unix_ms);
    if (a.jid.empty()) {
      out += "\"jid\":null";
    } else {
      kv_str(out, "jid", wa::mask_jid(a.jid));
    }
    out += ',';
    if (a.connection) {
      kv_str(out, "connection", *a.connection);
    } else {
      out += "\"connection\":null";
    }
    out += '}';
  }
  out += "]}";
  return out;
}

std::pair<bool, std::string> evaluate_ready(const PodStatus& s) {
  std::vector<std::string> reasons;
  if (!s.db_reachable) reasons.emplace_back("database unreachable");
  if (s.db_reachable && !s.db_writable) reasons.emplace_back("database refuses this pod's writes (read-only)");
  if (!s.elector_running) reasons.emplace_back("elector not running");
  const bool ready = reasons.empty();
  std::string body = fmt::format("{{\"ready\":{},\"reasons\":[", ready);
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    if (i) body += ',';
    wa::log::append_json_string(body, reasons[i]);
  }
  body += "]}";
  return {ready, std::move(body)};
}

}  // namespace wa::app
