#include "common/metrics.h"

#include <prometheus/text_serializer.h>

namespace wa {
namespace {

prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

prometheus::Histogram::BucketBoundaries failover_buckets() {
  return {0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 15, 30, 60};
}

// One builder per metric kind, so each member below states only its name, help and buckets.
prometheus::Family<prometheus::Gauge>& gauge_family(prometheus::Registry& r, const char* name,
                                                    const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

prometheus::Family<prometheus::Counter>& counter_family(prometheus::Registry& r, const char* name,
                                                        const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

prometheus::Counter& counter(prometheus::Registry& r, const char* name, const char* help) {
  return counter_family(r, name, help).Add({});
}

prometheus::Histogram& histogram(prometheus::Registry& r, const char* name, const char* help,
                                 const prometheus::Histogram::BucketBoundaries& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(r).Add({}, buckets);
}

prometheus::Histogram::BucketBoundaries message_latency_buckets() {
  return {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return gauge_family(r, name, help).Add({});
}

constexpr const char* kMessageKinds[] = {"text", "media", "other"};
constexpr const char* kDecryptFailureReasons[] = {"no_session", "bad_mac", "invalid_message", "other"};

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      leader_family_(
          gauge_family(*registry_, "waconnector_leader", "1 while this pod leads the account, else 0.")),
      lock_attempts_family_(counter_family(*registry_, "waconnector_lock_attempts_total",
                                           "Advisory-lock acquisition attempts by result.")),
      connected_family_(gauge_family(*registry_, "waconnector_connected",
                                     "1 while this pod has a logged-in WhatsApp session for the account.")),
      disconnects_family_(
          counter_family(*registry_, "waconnector_disconnects_total", "WhatsApp disconnects by reason.")),
      decode_errors_family_(counter_family(*registry_, "waconnector_decode_errors_total",
                                           "Malformed input rejected, by decoder.")),
      messages_received_family_(counter_family(*registry_, "waconnector_messages_received_total",
                                               "Incoming messages committed to the inbox, by kind.")),
      messages_sent_family_(counter_family(*registry_, "waconnector_messages_sent_total",
                                           "Outgoing messages acknowledged by the server, by kind.")),
      decrypt_failures_family_(counter_family(*registry_, "waconnector_decrypt_failures_total",
                                              "Incoming messages that could not be decrypted, by reason.")),
      leader_transitions(counter(*registry_, "waconnector_leader_transitions_total",
                                 "Leadership changes of this pod (acquired, lost, resigned, fenced).")),
      lock_heartbeat_seconds(histogram(*registry_, "waconnector_lock_heartbeat_seconds",
                                       "Round trip of the lock-session heartbeat query.", latency_buckets())),
      fenced(counter(*registry_, "waconnector_fenced_total",
                     "Times this pod fenced itself (stopped the connection and store writes).")),
      store_writes_refused(counter(*registry_, "waconnector_store_writes_refused_total",
                                   "Store writes refused because the lease epoch had moved.")),
      lock_lost(counter(*registry_, "waconnector_lock_lost_total",
                        "Times a held advisory lock was found lost (session gone or lock missing).")),
      stream_replaced(counter(*registry_, "waconnector_stream_replaced_total",
                              "Stream errors <conflict type=\"replaced\"/> received.")),
      failover_seconds(histogram(*registry_, "waconnector_failover_seconds",
                                 "Lock won to WhatsApp session logged in.", failover_buckets())),
      database_up(gauge(*registry_, "waconnector_database_up",
                        "1 while this pod can use PostgreSQL (sessions up, writes not refused as read-only), else 0.")),
      receive_latency_seconds(histogram(*registry_, "waconnector_message_receive_latency_seconds",
                                        "Message timestamp to inbox commit.", message_latency_buckets())),
      send_latency_seconds(histogram(*registry_, "waconnector_message_send_latency_seconds",
                                     "Outbox row created to server ack.", message_latency_buckets())),
      outbox_pending(gauge(*registry_, "waconnector_outbox_pending",
                           "Outbox messages of the accounts this pod leads that the server has not acked.")),
      webhook_pending(gauge(*registry_, "waconnector_webhook_pending",
                            "Webhook deliveries not yet acknowledged by the receiver.")),
      webhook_dead_letters(counter(*registry_, "waconnector_webhook_dead_letters_total",
                                   "Webhook deliveries given up after the last retry.")),
      accounts_led(gauge(*registry_, "waconnector_accounts_led", "Accounts this pod leads.")),
      accounts_targeted(gauge(*registry_, "waconnector_accounts_targeted",
                              "Accounts whose preferred pod with room (rendezvous hashing) is this pod.")),
      fair_share(gauge(*registry_, "waconnector_fair_share",
                       "Most accounts this pod leads by choice: ceil(accounts / live pods) + slack.")),
      live_pods(gauge(*registry_, "waconnector_live_pods", "Pods holding their liveness lock, as this pod saw them.")),
      handovers(counter(*registry_, "waconnector_handovers_total",
                        "Accounts this pod handed over gracefully to the pod they are targeted at.")) {
  auto& build_info = gauge_family(*registry_, "waconnector_build_info", "Build information; always 1.");
  build_info.Add({{"version", WACONN_VERSION}}).Set(1);
  // Initialise labelled series so that dashboards and alerts see zeros, not gaps.
  for (const char* r : {"acquired", "busy", "error"}) lock_attempts_family_.Add({{"result", r}});
  for (const char* k : kMessageKinds) {
    messages_received_family_.Add({{"kind", k}});
    messages_sent_family_.Add({{"kind", k}});
  }
  for (const char* r : kDecryptFailureReasons) decrypt_failures_family_.Add({{"reason", r}});
}

prometheus::Counter& Metrics::message_received(const std::string& kind) {
  return messages_received_family_.Add({{"kind", kind}});
}
prometheus::Counter& Metrics::message_sent(const std::string& kind) {
  return messages_sent_family_.Add({{"kind", kind}});
}
prometheus::Counter& Metrics::decrypt_failure(const std::string& reason) {
  return decrypt_failures_family_.Add({{"reason", reason}});
}

void Metrics::forget_account(const std::string& business_id) {
  const prometheus::Labels labels{{"business_id", business_id}};
  // Family::Remove takes the metric; Add returns the existing one.
  if (leader_family_.Has(labels)) leader_family_.Remove(&leader_family_.Add(labels));
  if (connected_family_.Has(labels)) connected_family_.Remove(&connected_family_.Add(labels));
}

std::string Metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

prometheus::Gauge& Metrics::leader(const std::string& business_id) {
  return leader_family_.Add({{"business_id", business_id}});
}
prometheus::Counter& Metrics::lock_attempt(const std::string& result) {
  return lock_attempts_family_.Add({{"result", result}});
}
prometheus::Gauge& Metrics::connected(const std::string& business_id) {
  return connected_family_.Add({{"business_id", business_id}});
}
prometheus::Counter& Metrics::disconnect(const std::string& reason) {
  return disconnects_family_.Add({{"reason", reason}});
}
prometheus::Counter& Metrics::decode_error(const std::string& what) {
  return decode_errors_family_.Add({{"what", what}});
}

}  // namespace wa
