// The last-activity stamps (wa_accounts.last_activity_at) of the accounts a pod leads, collected
// and written for all of them in one statement per member beat (store::touch_activity_batch), not
// one fenced transaction per account per minute (issue 10: an idle fleet's load must not grow with
// accounts; every logged-in account sees keepalive traffic, so each one stamped once a minute).
// A stamp is written only while its epoch is still the account's (the UPDATE's WHERE): a stale
// leader's stamp lands nowhere. The stamp is late by at most one member interval (5 s).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "store/accounts.h"

namespace wa::ha {

class ActivityBatch {
 public:
  // Any thread (the client's): remembers the latest epoch that saw traffic for the account.
  void note(const std::string& business_id, std::int64_t epoch);
  // The stamps noted since the last take (emptied).
  std::vector<store::AccountEpoch> take();
  // Puts stamps back whose write failed, unless a newer one was noted meanwhile.
  void restore(const std::vector<store::AccountEpoch>& stamps);

 private:
  std::mutex mu_;
  std::map<std::string, std::int64_t> pending_;
};

}  // namespace wa::ha
