#include "ha/outbox_dispatcher.h"

#include "store/notify.h"

namespace wa::ha {

OutboxDispatcher::OutboxDispatcher(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool,
                                   LedConnections led, OutboxDispatcherOptions options)
    : led_(std::move(led)),
      options_(std::move(options)),
      worker_(hub, std::move(pool),
              {"outbox_dispatcher", std::string(store::kOutboxChannel), options_.sweep_interval, false},
              [this](store::ConnectionPool& pool, bool notified) {
                if (notified) notifications_.fetch_add(1);
                round(pool);
              },
              // The backlog could not be read: the clients claim on their own, so wake them all.
              [this] { wake(led_(), nullptr); }) {}

void OutboxDispatcher::round(store::ConnectionPool& pool) {
  rounds_.fetch_add(1);
  const auto led = led_();
  // Every led account's rows count in the gauge; only the logged-in ones are woken.
  std::vector<store::OutboxLease> leases;
  for (const auto& l : led) leases.push_back({l.business_id, l.epoch});
  const auto backlog = options_.backlog ? options_.backlog(pool, leases)
                                        : pool.with([&](pg::Connection& c) { return store::outbox_backlog(c, leases); });
  if (options_.on_queued) options_.on_queued(backlog.queued);
  wake(led, &backlog.claimable);
}

void OutboxDispatcher::wake(const std::vector<LedConnection>& led, const std::set<std::string>* only) {
  for (const auto& l : led) {
    if (!l.connection || l.connection->state() != core::ConnectionState::logged_in) continue;
    if (only != nullptr && only->count(l.business_id) == 0) continue;
    woken_.fetch_add(1);
    l.connection->outbox_ready();
  }
}

}  // namespace wa::ha
