#include "sim/group_registry.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "core/crypto/random.h"

namespace wa::sim {
namespace {

constexpr std::size_t kMaxGroups = 100000;

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 20 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::pair<std::string, GroupRecord> read_group(const std::vector<std::string>& f, const TsvError& bad) {
  GroupRecord g;
  if (!all_digits(f[0])) throw bad("bad group id");
  g.id = f[0];
  g.subject = f[1];
  if (g.subject.empty() || g.subject.size() > GroupRegistry::kMaxSubject) throw bad("bad subject");
  try {
    std::size_t pos = 0;
    g.created_s = std::stoll(f[2], &pos);
    if (pos != f[2].size()) throw bad("bad created");
    std::size_t start = 0;
    while (start <= f[3].size()) {
      auto comma = f[3].find(',', start);
      const std::string m =
          f[3].substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!all_digits(m) || g.members.size() >= GroupRegistry::kMaxMembers) throw bad("bad member");
      g.members.push_back(std::stoull(m));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (!all_digits(f[4])) throw bad("bad creator");
    g.creator = std::stoull(f[4]);
  } catch (const std::logic_error&) {
    throw bad("bad number");
  }
  return {g.id, g};
}

void write_group(std::ostream& os, const std::string& id, const GroupRecord& g) {
  os << id << '\t' << g.subject << '\t' << g.created_s << '\t';
  for (std::size_t i = 0; i < g.members.size(); ++i) os << (i ? "," : "") << g.members[i];
  os << '\t' << g.creator;
}

}  // namespace

GroupRegistry::GroupRegistry(std::filesystem::path state_dir)
    : groups_(std::move(state_dir) / "groups.tsv", {"id\tsubject\tcreated_s\tmembers\tcreator", 5, kMaxGroups,
                                                    "groups", read_group, write_group}) {}

GroupRecord GroupRegistry::create(const std::string& subject, const std::vector<std::uint64_t>& members) {
  if (subject.empty() || subject.size() > kMaxSubject)
    throw std::invalid_argument("subject must be 1-100 bytes");
  if (subject.find_first_of("\t\n\r") != std::string::npos)
    throw std::invalid_argument("subject must not contain tabs or line breaks");
  if (members.empty()) throw std::invalid_argument("a group needs participants");
  GroupRecord g;
  for (auto m : members)
    if (std::find(g.members.begin(), g.members.end(), m) == g.members.end()) g.members.push_back(m);
  if (g.members.size() > kMaxMembers) throw std::invalid_argument("too many participants");
  g.subject = subject;
  g.creator = g.members.front();
  g.created_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto groups = groups_.lock();
  if (groups->size() >= kMaxGroups) throw std::invalid_argument("too many groups");
  do {
    // Real group ids are 18 digits starting 120363; ours look the same.
    auto r = wa::crypto::random_bytes(8);
    std::uint64_t n = 0;
    for (auto b : r) n = (n << 8) | b;
    g.id = "120363" + std::to_string(100000000000ull + n % 900000000000ull);
  } while (groups->count(g.id));
  (*groups)[g.id] = g;
  groups.save(g.id);
  return g;
}

std::optional<GroupRecord> GroupRegistry::find(const std::string& id) const {
  return groups_.find(id);
}

}  // namespace wa::sim
