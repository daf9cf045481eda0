// One of wasim's state files as a map of records (devices.tsv, phones.tsv, groups.tsv,
// prekeys.tsv): loaded when constructed, guarded by one mutex, rewritten whole (tsv_file.h's
// write_private_file) when a change says so. The registries keep only what their records mean.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sim/tsv_file.h"

namespace wa::sim {

template <class Key, class Record>
class TsvTable {
 public:
  using Rows = std::map<Key, Record>;

  struct Format {
    std::string header;     // the '#' line naming the columns (without the '#' and '\n')
    std::size_t fields;     // tab-separated fields per line
    std::size_t max_rows;   // a file with more lines is refused: "too many <rows_name>"
    std::string rows_name;  // "devices", "phones", ...
    // The key and record of one line; throws bad(why) for a malformed line.
    std::function<std::pair<Key, Record>(const std::vector<std::string>& fields, const TsvError& bad)> parse;
    // One record's fields, tab-separated, without the '\n'.
    std::function<void(std::ostream& os, const Key& key, const Record& record)> write;
  };

  // The rows, locked while this handle lives; save() rewrites the file with them.
  class Locked {
   public:
    Rows& operator*() const { return t_.rows_; }
    Rows* operator->() const { return &t_.rows_; }
    void save() const { t_.save_locked(); }

   private:
    friend class TsvTable;
    explicit Locked(TsvTable& t) : t_(t), lock_(t.mu_) {}
    TsvTable& t_;
    std::lock_guard<std::mutex> lock_;
  };

  // Loads `file` if it exists; throws std::runtime_error naming the file and line on a malformed
  // one (the state dir is ours, so corruption is an error, not input to ignore).
  TsvTable(std::filesystem::path file, Format format) : file_(std::move(file)), format_(std::move(format)) {
    read_tsv(file_, format_.fields, [&](const std::vector<std::string>& f, const TsvError& bad) {
      if (rows_.size() >= format_.max_rows) throw bad("too many " + format_.rows_name);
      auto [key, record] = format_.parse(f, bad);
      rows_[std::move(key)] = std::move(record);
    });
  }

  Locked lock() { return Locked(*this); }

  std::optional<Record> find(const Key& key) const {
    std::lock_guard lock(mu_);
    auto it = rows_.find(key);
    if (it == rows_.end()) return std::nullopt;
    return it->second;
  }

  // f(rows) under the lock, for reads that need more than find().
  template <class F>
  auto read(F&& f) const {
    std::lock_guard lock(mu_);
    return f(static_cast<const Rows&>(rows_));
  }

 private:
  void save_locked() const {
    std::ostringstream os;
    os << "# " << format_.header << '\n';
    for (const auto& [key, record] : rows_) {
      format_.write(os, key, record);
      os << '\n';
    }
    write_private_file(file_, os.str());
  }

  const std::filesystem::path file_;
  const Format format_;
  mutable std::mutex mu_;
  Rows rows_;
};

}  // namespace wa::sim
