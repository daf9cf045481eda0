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

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      leader_family_(prometheus::BuildGauge()
                         .Name("waconnector_leader")
                         .Help("1 while this pod leads the account, else 0.")
                         .Register(*registry_)),
      lock_attempts_family_(prometheus::BuildCounter()
                                .Name("waconnector_lock_attempts_total")
                                .Help("Advisory-lock acquisition attempts by result.")
                                .Register(*registry_)),
      connected_family_(prometheus::BuildGauge()
                            .Name("waconnector_connected")
                            .Help("1 while this pod has a logged-in WhatsApp session for the account.")
                            .Register(*registry_)),
      disconnects_family_(prometheus::BuildCounter()
                              .Name("waconnector_disconnects_total")
                              .Help("WhatsApp disconnects by reason.")
                              .Register(*registry_)),
      decode_errors_family_(prometheus::BuildCounter()
                                .Name("waconnector_decode_errors_total")
                                .Help("Malformed input rejected, by decoder.")
                                .Register(*registry_)),
      leader_transitions(prometheus::BuildCounter()
                             .Name("waconnector_leader_transitions_total")
                             .Help("Leadership changes of this pod (acquired, lost, resigned, fenced).")
                             .Register(*registry_)
                             .Add({})),
      lock_heartbeat_seconds(prometheus::BuildHistogram()
                                 .Name("waconnector_lock_heartbeat_seconds")
                                 .Help("Round trip of the lock-session heartbeat query.")
                                 .Register(*registry_)
                                 .Add({}, latency_buckets())),
      fenced(prometheus::BuildCounter()
                 .Name("waconnector_fenced_total")
                 .Help("Times this pod fenced itself (stopped the connection and store writes).")
                 .Register(*registry_)
                 .Add({})),
      store_writes_refused(prometheus::BuildCounter()
                               .Name("waconnector_store_writes_refused_total")
                               .Help("Store writes refused because the lease epoch had moved.")
                               .Register(*registry_)
                               .Add({})),
      lock_lost(prometheus::BuildCounter()
                    .Name("waconnector_lock_lost_total")
                    .Help("Times a held advisory lock was found lost (session gone or lock missing).")
                    .Register(*registry_)
                    .Add({})),
      stream_replaced(prometheus::BuildCounter()
                          .Name("waconnector_stream_replaced_total")
                          .Help("Stream errors <conflict type=\"replaced\"/> received.")
                          .Register(*registry_)
                          .Add({})),
      failover_seconds(prometheus::BuildHistogram()
                           .Name("waconnector_failover_seconds")
                           .Help("Lock won to WhatsApp session logged in.")
                           .Register(*registry_)
                           .Add({}, failover_buckets())) {
  auto& build_info = prometheus::BuildGauge()
                         .Name("waconnector_build_info")
                         .Help("Build information; always 1.")
                         .Register(*registry_);
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
