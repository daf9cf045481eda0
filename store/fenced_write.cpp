#include "store/fenced_write.h"

#include <fmt/format.h>
#include <prometheus/counter.h>

#include "common/log.h"

namespace wa::store {

void refuse_write(const std::string& business_id, std::int64_t held, std::optional<std::int64_t> current,
                         std::string_view purpose, prometheus::Counter* refused) {
  if (refused != nullptr) refused->Increment();
  std::string msg =
      current ? fmt::format("{} for business {} refused: lease epoch {} is no longer current (now {}); "
                            "another pod leads this account",
                            purpose, business_id, held, *current)
              : fmt::format("{} for business {} refused: lease epoch {} is no longer valid (fenced or account "
                            "removed)",
                            purpose, business_id, held);
  log::warn("store_write_refused")
      .kv("business_id", business_id)
      .kv("purpose", purpose)
      .kv("held_epoch", held)
      .kv("current_epoch", current ? *current : -1);
  throw EpochMoved(std::move(msg), business_id, held, current);
}

void check_epoch(pg::Connection& conn, const std::string& business_id, std::int64_t epoch, std::string_view purpose,
                 prometheus::Counter* refused) {
  pg::TenantScope tenant(conn, business_id);
  // FOR SHARE: concurrent fenced writes don't block each other, but begin_lease's UPDATE of this
  // row waits until they are done, so no old-epoch write commits after a new lease began.
  auto r = conn.exec(fmt::format("{}: check lease epoch of business {}", purpose, business_id),
                     "SELECT lease_epoch FROM wa_accounts WHERE business_id = $1 FOR SHARE", {business_id});
  if (r.rows() == 0) refuse_write(business_id, epoch, std::nullopt, purpose, refused);
  const auto current = r.i64(0, 0);
  if (current != epoch) refuse_write(business_id, epoch, current, purpose, refused);
}

void fenced_write(pg::Connection& conn, const std::string& business_id, std::int64_t epoch, std::string_view purpose,
                  const std::function<void(pg::Connection&)>& body, prometheus::Counter* refused) {
  // Nested in a caller's transaction, our COMMIT would commit the caller's work too.
  if (conn.raw() != nullptr && PQtransactionStatus(conn.raw()) != PQTRANS_IDLE)
    throw StoreError(fmt::format("{} for business {}: fenced_write needs a connection outside any transaction "
                                 "(use check_epoch inside your own)",
                                 purpose, business_id));
  pg::TenantScope tenant(conn, business_id);
  pg::Transaction tx(conn, fmt::format("{} for business {}", purpose, business_id));
  check_epoch(conn, business_id, epoch, purpose, refused);
  body(conn);
  tx.commit();
}

void WriteFence::write(pg::Connection& conn, std::string_view purpose,
                       const std::function<void(pg::Connection&)>& body) const {
  if (revoked()) refuse_write(business_id_, epoch_, std::nullopt, purpose, refused_);
  fenced_write(conn, business_id_, epoch_, purpose, body, refused_);
}

}  // namespace wa::store
