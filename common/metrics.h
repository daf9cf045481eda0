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

};

}  // namespace wa
