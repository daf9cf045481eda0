#include "ha/outbox_dispatcher.h"

#include "store/notify.h"

namespace wa::ha {

OutboxDispatcher::OutboxDispatcher(std::string database_url, LedConnections led, OutboxDispatcherOptions options)
    : led_(std::move(led)),
      options_(std::move(options)),
      worker_(std::move(database_url),
              {"outbox_dispatcher", "waconnector/outbox", std::string(store::kOutboxChannel),
               options_.sweep_interval, "", false},
              [this](pg::Connection& conn, bool notified) {
                if (notified) notifications_.fetch_add(1);
                wake_all();
                if (options_.after_round) options_.after_round(conn);
              },
              // The clients claim through their own sessions: wake them even while this one is down.
              [this] { wake_all(); }) {}

void OutboxDispatcher::wake_all() {
  rounds_.fetch_add(1);
  for (const auto& c : led_())
    if (c && c->state() == core::ConnectionState::logged_in) c->outbox_ready();
}

}  // namespace wa::ha
