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
                                 "Lock won to WhatsApp session logged in.", failover_buckets())) {
  auto& build_info = gauge_family(*registry_, "waconnector_build_info", "Build information; always 1.");
  build_info.Add({{"version", WACONN_VERSION}}).Set(1);
  // Initialise labelled series so that dashboards and alerts see zeros, not gaps.
  for (const char* r : {"acquired", "busy", "error"}) lock_attempts_family_.Add({{"result", r}});
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
