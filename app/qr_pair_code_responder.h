// The leader's half of `accounts pair --phone`: a thread in `waconnector run` that answers the
// pair-code requests (wa_pair_code_requests) of the accounts this pod leads. Woken through the
// pod's notify hub on store::kPairCodeRequestChannel (at once by an insert) and polling too, it asks the account's
// connection for a linking code (core::Connection::request_pair_code) and writes the answer or the
// failure back. Every such write is fenced by the account's WriteFence (epoch checked in the same
// transaction): a pod whose view of what it leads is stale (a pause, a lost lock) has its answer
// refused, and the request stays pending for the real leader. The code is never logged. A database
// outage only delays answers. No pooled connection is held while the client is asked.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ha/notify_worker.h"
#include "store/fenced_write.h"

namespace wa::app {

struct PairCodeResponderOptions {
  std::chrono::milliseconds poll_interval{1000};     // also the reconnect delay after an error
  std::chrono::milliseconds max_request_age{60000};  // older pending requests are failed, not served
};

class PairCodeResponder {
 public:
  // The write fences of the accounts this pod leads right now (called on the responder's thread).
  using LedAccounts = std::function<std::vector<std::shared_ptr<const store::WriteFence>>()>;
  // Returns the 8-character code for (business_id, phone digits, show push notification); throws
  // (any std::exception, e.g. client::PairCodeError) with a reason the CLI prints.
  using RequestCode =
      std::function<std::string(const std::string& business_id, const std::string& phone_digits, bool push)>;

  PairCodeResponder(store::NotifyHub& hub, std::shared_ptr<store::ConnectionPool> pool, std::string pod,
                    LedAccounts led, RequestCode request, PairCodeResponderOptions options = {});
  // Not copyable (the worker is not); destruction stops the worker first (declared last).

  // Wakes and joins the thread (a request being answered finishes first). Idempotent.
  void stop() { worker_.stop(); }

  // Requests answered / failed by this pod so far (for tests and logs).
  std::int64_t answered() const { return answered_.load(); }
  std::int64_t failed() const { return failed_.load(); }
  // Answers or failures refused because the lease had moved (written by nobody).
  std::int64_t refused() const { return refused_.load(); }

 private:
  // Serves the pending requests of the accounts this pod leads (one round of the worker).
  void answer_pending(store::ConnectionPool& pool);

  std::string pod_;
  LedAccounts led_;
  RequestCode request_;
  PairCodeResponderOptions options_;
  std::atomic<std::int64_t> answered_{0};
  std::atomic<std::int64_t> failed_{0};
  std::atomic<std::int64_t> refused_{0};
  ha::NotifyWorker worker_;  // last: its thread uses the members above
};

}  // namespace wa::app
