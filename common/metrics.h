// The process's Prometheus metrics. One instance per process, created by the app and passed by
// reference to the layers that count things. Names follow Prometheus conventions: prefix
// waconnector_, base units, counters end in _total. Labels never carry phone numbers.
#pragma once

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace wa {

class Metrics {
  // Declared first: members are initialised in declaration order and everything below
  // registers into registry_.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& leader_family_;
  prometheus::Family<prometheus::Counter>& lock_attempts_family_;
  prometheus::Family<prometheus::Gauge>& connected_family_;
  prometheus::Family<prometheus::Counter>& disconnects_family_;
  prometheus::Family<prometheus::Counter>& decode_errors_family_;
  prometheus::Family<prometheus::Counter>& messages_received_family_;
  prometheus::Family<prometheus::Counter>& messages_sent_family_;
  prometheus::Family<prometheus::Counter>& decrypt_failures_family_;

 public:
  Metrics();

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> registry_ptr() { return registry_; }
  // Prometheus text exposition format of everything registered.
  std::string serialize() const;

  // HA
  prometheus::Gauge& leader(const std::string& business_id);  // 0/1 per account
  prometheus::Counter& leader_transitions;
  prometheus::Counter& lock_attempt(const std::string& result);  // acquired|busy|error
  prometheus::Histogram& lock_heartbeat_seconds;
  prometheus::Counter& fenced;
  prometheus::Counter& store_writes_refused;
  prometheus::Counter& lock_lost;

  // WhatsApp connection (filled by the connection layer)
  prometheus::Gauge& connected(const std::string& business_id);
  prometheus::Counter& disconnect(const std::string& reason);
  prometheus::Counter& stream_replaced;
  prometheus::Histogram& failover_seconds;
  prometheus::Counter& decode_error(const std::string& what);  // frame|node|handshake|websocket

  // This pod's view of the database: 1 while its registry session and lock session work (it can
  // read the registry and take locks), 0 otherwise - also from the first scrape of a pod that
  // starts while the database is down. Set by the elector on every loop.
  prometheus::Gauge& database_up;

  // Messaging. Every series below exists from the start (zeros, not gaps) so that dashboards and
  // increase()-based alerts see the first event. Who fills what:
  //   messages_received  the receive path, once the inbox row is committed (kind: text|media|other)
  //   messages_sent      the outbox dispatcher, once the server acked the message (kind as above)
  //   receive_latency    message timestamp (server t) to inbox commit, seconds
  //   send_latency       outbox row created to server ack, seconds
  //   outbox_pending     the leader's count of outbox rows not yet acked (per pod, all accounts it leads)
  //   decrypt_failure    a message that could not be decrypted (reason: no_session|bad_mac|
  //                      invalid_message|other); the retry receipt path handles it
  //   webhook_pending    webhook deliveries not yet acknowledged by the receiver
  //   webhook_dead_letters  deliveries given up after the last retry
  prometheus::Counter& message_received(const std::string& kind);
  prometheus::Counter& message_sent(const std::string& kind);
  prometheus::Histogram& receive_latency_seconds;
  prometheus::Histogram& send_latency_seconds;
  prometheus::Gauge& outbox_pending;
  prometheus::Counter& decrypt_failure(const std::string& reason);
  prometheus::Gauge& webhook_pending;
  prometheus::Counter& webhook_dead_letters;

  // Balanced leadership (this pod's share of the fleet; no per-account labels).
  prometheus::Gauge& accounts_led;       // accounts this pod leads
  prometheus::Gauge& accounts_targeted;  // accounts whose preferred pod (with room) is this pod
  prometheus::Gauge& fair_share;         // ceil(accounts / live pods) + slack
  prometheus::Gauge& live_pods;          // pods holding their liveness lock, as this pod saw them
  prometheus::Counter& handovers;        // accounts handed over gracefully to their preferred pod

  // Drops every series labelled with this account (it was deleted from the registry), so that
  // per-account alerts such as NoLeader stop firing for it.
  void forget_account(const std::string& business_id);
};

}  // namespace wa
