// Epoch fencing of store writes. A leader gets its lease epoch from begin_lease(); every write it
// makes for the account runs through fenced_write() with that epoch. Inside the write's
// transaction the account row is read `FOR SHARE` and its lease_epoch compared: a stale epoch
// refuses the write (EpochMoved), and a new leader's begin_lease() UPDATE of that row waits until
// every in-flight fenced write has committed or rolled back. So once begin_lease() returned, no
// write of an older epoch can land.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/errors.h"
#include "store/pg.h"

namespace prometheus {
class Counter;
}

namespace wa::store {

// Runs `body` in one transaction on `conn` if `epoch` is still the account's lease_epoch, and
// commits. Otherwise rolls back, increments `refused` (if given) and throws EpochMoved naming the
// account, the held and the current epoch. Exceptions from `body` roll back and propagate.
// `purpose` names the write in errors and logs (e.g. "save session").
// `conn` must not be inside a transaction already.
void fenced_write(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                  std::string_view purpose, const std::function<void(pg::Connection&)>& body,
                  prometheus::Counter* refused = nullptr);

// The same check for callers that manage the transaction themselves: must run inside an open
// transaction on `conn`, before the transaction's writes. Throws EpochMoved (and counts) when stale.
void check_epoch(pg::Connection& conn, const std::string& business_id, std::int64_t epoch,
                 std::string_view purpose, prometheus::Counter* refused = nullptr);

// Counts (if `refused`), logs and throws EpochMoved for a refused write; for writers that detect a
// stale epoch themselves (e.g. a conditional UPDATE ... WHERE lease_epoch = $held that hit no row).
// `current` = nullopt when the account row is gone or the fence was revoked locally.
[[noreturn]] void refuse_write(const std::string& business_id, std::int64_t held, std::optional<std::int64_t> current,
                               std::string_view purpose, prometheus::Counter* refused);

// A leader's write permit for one account: business_id + epoch + refusal counter, plus a local
// revoke switch. The HA supervisor revoke()s it when it fences, so writes are refused at once
// without a database round trip (the database may be unreachable at that moment). Cheap to copy
// around via shared_ptr; thread-safe.
class WriteFence {
 public:
  WriteFence(std::string business_id, std::int64_t epoch, prometheus::Counter* refused = nullptr)
      : business_id_(std::move(business_id)), epoch_(epoch), refused_(refused) {}

  const std::string& business_id() const { return business_id_; }
  std::int64_t epoch() const { return epoch_; }
  void revoke() { revoked_.store(true, std::memory_order_release); }
  bool revoked() const { return revoked_.load(std::memory_order_acquire); }
  // For writers that check the epoch themselves (check_epoch, set_jid_in_transaction).
  prometheus::Counter* refused_counter() const { return refused_; }

  // fenced_write() with this fence's account/epoch/counter; refused locally (EpochMoved with
  // current epoch unknown) once revoked.
  void write(pg::Connection& conn, std::string_view purpose,
             const std::function<void(pg::Connection&)>& body) const;

 private:
  std::string business_id_;
  std::int64_t epoch_;
  prometheus::Counter* refused_;
  std::atomic<bool> revoked_{false};
};

}  // namespace wa::store
