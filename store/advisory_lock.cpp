#include "store/advisory_lock.h"
#include "common/split.h"

#include <charconv>

#include <fmt/format.h>

namespace wa::store {

SessionIdentity session_identity(const pg::Result& r) {
  SessionIdentity id;
  if (r.rows() == 0) return id;
  id.pid = static_cast<int>(r.i64(0, 0));
  if (!r.is_null(0, 1)) id.started = std::string(r.text(0, 1));
  return id;
}

std::set<std::int64_t> held_keys(const pg::Result& r) {
  std::set<std::int64_t> out;
  int col = r.col_index("k");
  if (col < 0) col = 0;
  for (int i = 0; i < r.rows(); ++i)
    if (!r.is_null(i, col)) out.insert(r.i64(i, col));
  return out;
}

bool try_liveness_lock(pg::Connection& conn, const std::string& pod, int lock_class) {
  auto r =
      conn.exec(fmt::format("take the liveness lock of pod {}", pod), kTryLivenessLockSql, {lock_class, pod});
  return r.boolean(0, 0);
}

bool pod_alive(pg::Connection& conn, const std::string& pod) {
  auto r = conn.exec(fmt::format("is pod {} alive", pod), kPodAliveSql, {kLivenessLockClass, pod});
  return r.boolean(0, 0);
}

std::string key_array(const std::vector<std::int64_t>& keys) {
  std::string s = "{";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(keys[i]);
  }
  return s + "}";
}

std::string notice_payload(const LeaderNotice& n) {
  return fmt::format("{} {} {} {}", n.business_id, n.epoch, n.kind, n.pod);
}

std::optional<LeaderNotice> parse_notice(std::string_view p) {
  const auto parts = split(p, ' ');
  if (parts.size() != 4 || parts[0].empty()) return std::nullopt;
  LeaderNotice n;
  n.business_id = std::string(parts[0]);
  const auto [ptr, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), n.epoch);
  if (ec != std::errc() || ptr != parts[1].data() + parts[1].size()) return std::nullopt;
  n.kind = std::string(parts[2]);
  n.pod = std::string(parts[3]);
  return n;
}

}  // namespace wa::store
