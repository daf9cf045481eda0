#include "ha/balance.h"

#include <algorithm>
#include <utility>

namespace wa::ha {

std::uint64_t rendezvous_score(std::string_view business_id, std::string_view pod) {
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  mix(business_id);
  mix(std::string_view("\0", 1));  // "ab"+"c" and "a"+"bc" must not score alike
  mix(pod);
  // FNV alone clusters for inputs that differ in the last bytes (pod-0, pod-1): finalise.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

int fair_share(int accounts, int pods, int slack) {
  pods = std::max(pods, 1);
  return (std::max(accounts, 0) + pods - 1) / pods + std::max(slack, 0);
}

std::vector<std::string> rank_pods(std::string_view business_id, const std::vector<std::string>& pods) {
  std::vector<std::pair<std::uint64_t, const std::string*>> scored;
  scored.reserve(pods.size());
  for (const auto& p : pods) scored.emplace_back(rendezvous_score(business_id, p), &p);
  // Ties (never seen in practice) go to the smaller name, so every pod still agrees.
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  });
  std::vector<std::string> out;
  out.reserve(scored.size());
  for (auto& [s, p] : scored) out.push_back(*p);
  return out;
}

std::map<std::string, std::string> assign_targets(std::vector<std::string> accounts,
                                                  const std::vector<std::string>& pods) {
  std::map<std::string, std::string> out;
  if (pods.empty()) return out;
  std::sort(accounts.begin(), accounts.end());
  accounts.erase(std::unique(accounts.begin(), accounts.end()), accounts.end());
  const int cap = fair_share(static_cast<int>(accounts.size()), static_cast<int>(pods.size()), 0);
  std::map<std::string, int> load;
  for (const auto& id : accounts)
    for (const auto& p : rank_pods(id, pods))
      if (load[p] < cap) {
        ++load[p];
        out.emplace(id, p);
        break;
      }
  return out;
}

}  // namespace wa::ha
