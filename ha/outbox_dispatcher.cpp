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
                wake_all();
                if (options_.after_round) pool.with([&](pg::Connection& c) { options_.after_round(c); });
              },
              // The clients claim on their own: wake them even while the database is away.
              [this] { wake_all(); }) {}

void OutboxDispatcher::wake_all() {
  rounds_.fetch_add(1);
  for (const auto& c : led_())
    if (c && c->state() == core::ConnectionState::logged_in) c->outbox_ready();
}

}  // namespace wa::ha
