// Balanced leadership: which pod should lead which account, and how many accounts a pod may lead.
// Pure functions; the elector (ha/elector_balance.cpp) acts on them.
//
//  * Preference is rendezvous hashing of (business_id, pod): every pod ranks the live pods for an
//    account by score, with no coordination, and adding or removing one pod changes the first
//    choice of only the accounts that pod wins or loses.
//  * The fair share is ceil(accounts / live pods) + slack: the most a pod leads by choice.
//  * The target of an account is its highest-ranked live pod that still has room below
//    ceil(accounts / live pods), accounts taken in business_id order (bounded-load rendezvous):
//    every pod computes the same targets from the same account list and live set, so the targets
//    split the accounts evenly (20/20/20 for 60 accounts on 3 pods) and agree between pods.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace wa::ha {

// Stable across processes, versions and platforms (FNV-1a 64 + a 64-bit finaliser).
std::uint64_t rendezvous_score(std::string_view business_id, std::string_view pod);

// ceil(accounts / pods) + slack; pods < 1 counts as 1.
int fair_share(int accounts, int pods, int slack);

// Live pods ranked for one account, best first.
std::vector<std::string> rank_pods(std::string_view business_id, const std::vector<std::string>& pods);

// business_id -> target pod for every account (bounded-load rendezvous, see above). `accounts`
// in any order; empty `pods` gives an empty map.
std::map<std::string, std::string> assign_targets(std::vector<std::string> accounts,
                                                  const std::vector<std::string>& pods);

}  // namespace wa::ha
