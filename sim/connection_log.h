// What wasim remembers about each client connection, for GET /admin/connections and tests:
// timings, the dictionary version, the payload kind and why it closed. Bounded: only the most
// recent connections are kept. Thread-safe (the Asio thread writes, civetweb threads read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace wa::sim {

struct ConnectionRecord {
  std::uint64_t id = 0;
  std::string peer;             // "ip:port"
  std::int64_t opened_ms = 0;   // Unix ms
  std::int64_t handshake_ms = 0;  // Unix ms when the Noise handshake completed; 0 if it did not
  std::int64_t closed_ms = 0;   // 0 while open
  int dict_version = 0;         // 0 until the WA header was read
  std::string payload_kind;     // "registration" | "login" | "" (not reached)
  std::string close_reason;     // empty while open
  std::string jid;              // the device this connection is for (login, or pairing once linked)
  std::int64_t logged_in_ms = 0;  // Unix ms of the <success>; 0 if none
};

class ConnectionLog {
 public:
  explicit ConnectionLog(std::size_t capacity = 1000) : capacity_(capacity) {}

  std::uint64_t open(const std::string& peer);
  void handshake_done(std::uint64_t id);
  void set_dict_version(std::uint64_t id, int v);
  void set_payload_kind(std::uint64_t id, const std::string& kind);
  void set_jid(std::uint64_t id, const std::string& jid);
  void logged_in(std::uint64_t id);
  // First reason wins; later calls for the same connection are ignored.
  void close(std::uint64_t id, const std::string& reason);

  // Counts malformed input by kind (http|websocket|frame|handshake|payload|node).
  void count_error(const std::string& kind);
  // Counts a login that found its device already logged in on another connection (which is then
  // told "replaced" and closed): two live logins for a moment, what leader election must avoid.
  void count_login_replaced();

  std::size_t open_count() const;
  // {"connections":[...], "open": N} — newest last; `limit` > 0 keeps only the newest `limit`.
  std::string connections_json(std::size_t limit = 0) const;
  // {"jid": J, "connections":[{opened_ms, handshake_ms, logged_in_ms, closed_ms, close_reason,
  // payload_kind}...]} for one device, oldest first (what failover and overlap are measured on).
  std::string device_connections_json(const std::string& jid) const;
  // {"malformed": {"kind": n, ...}, "connections_total": n, "open": n, "logins_replaced": n}
  std::string counters_json() const;

 private:
  ConnectionRecord* find(std::uint64_t id);  // lock held
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<ConnectionRecord> records_;
  std::map<std::string, std::uint64_t> errors_;
  std::uint64_t next_id_ = 1;
  std::uint64_t logins_replaced_ = 0;
  std::size_t open_ = 0;
};

std::int64_t now_unix_ms();

}  // namespace wa::sim
