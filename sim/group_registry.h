// Groups wasim hosts (e2e reference §6): JID "<id>@g.us", subject, creator, member users.
// Created through the admin API, read by w:g2 queries and by the message router's skmsg fan-out.
// Kept in <state>/groups.tsv (0600; changes appended, see tsv_table.h). Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sim/tsv_table.h"

namespace wa::sim {

struct GroupRecord {
  std::string id;  // the user part of the JID (digits)
  std::string subject;
  std::uint64_t creator = 0;           // phone number of the first participant
  std::vector<std::uint64_t> members;  // phone numbers, no duplicates, creator first
  std::int64_t created_s = 0;
  std::string jid() const { return id + "@g.us"; }
};

class GroupRegistry {
 public:
  static constexpr std::size_t kMaxMembers = 1024;
  static constexpr std::size_t kMaxSubject = 100;  // as WhatsApp's subject limit (characters ~ bytes here)

  explicit GroupRegistry(std::filesystem::path state_dir);
  // Throws std::invalid_argument for an empty or too long subject (tabs/newlines refused), no
  // members, too many members.
  GroupRecord create(const std::string& subject, const std::vector<std::uint64_t>& members);
  std::optional<GroupRecord> find(const std::string& id) const;

 private:
  TsvTable<std::string, GroupRecord> groups_;
};

}  // namespace wa::sim
