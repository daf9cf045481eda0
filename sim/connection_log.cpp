#include "sim/connection_log.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"

namespace wa::sim {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t ConnectionLog::open(const std::string& peer) {
  std::lock_guard lock(mu_);
  ConnectionRecord r;
  r.id = next_id_++;
  r.peer = peer;
  r.opened_ms = now_unix_ms();
  records_.push_back(r);
  ++open_;
  // Drop the oldest closed records beyond capacity; open ones are kept until they close.
  while (records_.size() > capacity_) {
    auto it = std::find_if(records_.begin(), records_.end(), [](const ConnectionRecord& c) { return c.closed_ms != 0; });
    if (it == records_.end()) break;
    records_.erase(it);
  }
  return r.id;
}

ConnectionRecord* ConnectionLog::find(std::uint64_t id) {
  for (auto it = records_.rbegin(); it != records_.rend(); ++it)
    if (it->id == id) return &*it;
  return nullptr;
}

void ConnectionLog::handshake_done(std::uint64_t id) {
  std::lock_guard lock(mu_);
  if (auto* r = find(id)) r->handshake_ms = now_unix_ms();
}

void ConnectionLog::set_dict_version(std::uint64_t id, int v) {
  std::lock_guard lock(mu_);
  if (auto* r = find(id)) r->dict_version = v;
}

void ConnectionLog::set_payload_kind(std::uint64_t id, const std::string& kind) {
  std::lock_guard lock(mu_);
  if (auto* r = find(id)) r->payload_kind = kind;
}

void ConnectionLog::set_jid(std::uint64_t id, const std::string& jid) {
  std::lock_guard lock(mu_);
  if (auto* r = find(id)) r->jid = jid;
}

void ConnectionLog::logged_in(std::uint64_t id) {
  std::lock_guard lock(mu_);
  if (auto* r = find(id)) r->logged_in_ms = now_unix_ms();
}

std::string ConnectionLog::device_connections_json(const std::string& jid) const {
  std::lock_guard lock(mu_);
  auto num = [](std::int64_t v) { return v ? std::to_string(v) : std::string("null"); };
  std::string out = "{\"jid\":";
  wa::log::append_json_string(out, jid);
  out += ",\"connections\":[";
  bool first = true;
  for (const auto& r : records_) {
    if (r.jid != jid) continue;
    if (!first) out += ',';
    first = false;
    out += "{\"id\":" + std::to_string(r.id) + ",\"opened_ms\":" + std::to_string(r.opened_ms);
    out += ",\"handshake_ms\":" + num(r.handshake_ms) + ",\"logged_in_ms\":" + num(r.logged_in_ms);
    out += ",\"closed_ms\":" + num(r.closed_ms) + ",\"payload_kind\":";
    if (r.payload_kind.empty()) out += "null"; else wa::log::append_json_string(out, r.payload_kind);
    out += ",\"close_reason\":";
    if (r.close_reason.empty()) out += "null"; else wa::log::append_json_string(out, r.close_reason);
    out += '}';
  }
  out += "]}";
  return out;
}

void ConnectionLog::close(std::uint64_t id, const std::string& reason) {
  std::lock_guard lock(mu_);
  auto* r = find(id);
  if (!r || r->closed_ms != 0) return;
  r->closed_ms = now_unix_ms();
  r->close_reason = reason;
  --open_;
}

void ConnectionLog::count_error(const std::string& kind) {
  std::lock_guard lock(mu_);
  ++errors_[kind];
}

void ConnectionLog::count_login_replaced() {
  std::lock_guard lock(mu_);
  ++logins_replaced_;
}

std::size_t ConnectionLog::open_count() const {
  std::lock_guard lock(mu_);
  return open_;
}

std::string ConnectionLog::connections_json(std::size_t limit) const {
  std::lock_guard lock(mu_);
  std::string out = "{\"connections\":[";
  bool first = true;
  std::size_t skip = limit > 0 && records_.size() > limit ? records_.size() - limit : 0;
  for (const auto& r : records_) {
    if (skip > 0) {
      --skip;
      continue;
    }
    if (!first) out += ',';
    first = false;
    out += "{\"id\":" + std::to_string(r.id) + ",\"peer\":";
    wa::log::append_json_string(out, r.peer);
    out += ",\"opened_ms\":" + std::to_string(r.opened_ms);
    out += ",\"handshake_ms\":" + (r.handshake_ms ? std::to_string(r.handshake_ms) : std::string("null"));
    out += ",\"logged_in_ms\":" + (r.logged_in_ms ? std::to_string(r.logged_in_ms) : std::string("null"));
    out += ",\"jid\":";
    if (r.jid.empty()) out += "null"; else wa::log::append_json_string(out, r.jid);
    out += ",\"closed_ms\":" + (r.closed_ms ? std::to_string(r.closed_ms) : std::string("null"));
    out += ",\"dict_version\":" + (r.dict_version ? std::to_string(r.dict_version) : std::string("null"));
    out += ",\"payload_kind\":";
    if (r.payload_kind.empty()) out += "null"; else wa::log::append_json_string(out, r.payload_kind);
    out += ",\"close_reason\":";
    if (r.close_reason.empty()) out += "null"; else wa::log::append_json_string(out, r.close_reason);
    out += '}';
  }
  out += "],\"open\":" + std::to_string(open_) + "}";
  return out;
}

std::string ConnectionLog::counters_json() const {
  std::lock_guard lock(mu_);
  std::string out = "{\"malformed\":{";
  bool first = true;
  for (const auto& [k, v] : errors_) {
    if (!first) out += ',';
    first = false;
    wa::log::append_json_string(out, k);
    out += ':' + std::to_string(v);
  }
  out += "},\"connections_total\":" + std::to_string(next_id_ - 1) + ",\"open\":" + std::to_string(open_) +
         ",\"logins_replaced\":" + std::to_string(logins_replaced_) + "}";
  return out;
}

}  // namespace wa::sim
