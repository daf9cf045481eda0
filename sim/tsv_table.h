// One of wasim's state files as a map of records (devices.tsv, phones.tsv, groups.tsv,
// prekeys.tsv), guarded by one mutex. The file is a snapshot followed by an append-only log, so a
// change costs one appended line, not a rewrite of every record (with thousands of devices, each
// holding 812 one-time pre-keys, a rewrite per pairing step made pairing quadratic):
//   <fields>        the record with this key is now this one (the snapshot's lines are the same)
//   -\t<fields>     the record with this key is gone
// A torn last line (wasim killed mid-append) is ignored. Once the file holds more than twice the
// last snapshot plus 4 MiB it is rewritten as a snapshot (tsv_file.h's write_private_file: 0600,
// atomic), and at start-up when the log has lines to fold. Appends are not fsynced, as the pending
// queue's: a killed wasim loses nothing (the page cache has it), a crashed machine may lose the tail.
// The registries keep only what their records mean.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
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
    std::size_t max_rows;   // a file with more records is refused: "too many <rows_name>"
    std::string rows_name;  // "devices", "phones", ...
    // The key and record of one line; throws bad(why) for a malformed line.
    std::function<std::pair<Key, Record>(const std::vector<std::string>& fields, const TsvError& bad)> parse;
    // One record's fields, tab-separated, without the '\n'.
    std::function<void(std::ostream& os, const Key& key, const Record& record)> write;
  };

  // The rows, locked while this handle lives. Every change is followed by save(key) (the record
  // was added or changed) or made by erase(key), which log it.
  class Locked {
   public:
    Rows& operator*() const { return t_.rows_; }
    Rows* operator->() const { return &t_.rows_; }
    void save(const Key& key) const { t_.log_row(key); }
    bool erase(const Key& key) const { return t_.erase_row(key); }

   private:
    friend class TsvTable;
    explicit Locked(TsvTable& t) : t_(t), lock_(t.mu_) {}
    TsvTable& t_;
    std::lock_guard<std::mutex> lock_;
  };

  // Loads `file` if it exists; throws std::runtime_error naming the file and line on a malformed
  // one (the state dir is ours, so corruption is an error, not input to ignore).
  TsvTable(std::filesystem::path file, Format format) : file_(std::move(file)), format_(std::move(format)) {
    std::size_t lines = 0;
    const auto read = read_tsv_log(file_, format_.fields,
                                   [&](const std::vector<std::string>& f, const TsvError& bad, bool removed) {
                                     ++lines;
                                     auto [key, record] = format_.parse(f, bad);
                                     if (removed) {
                                       rows_.erase(key);
                                       return;
                                     }
                                     auto it = rows_.find(key);
                                     if (it == rows_.end() && rows_.size() >= format_.max_rows)
                                       throw bad("too many " + format_.rows_name);
                                     rows_.insert_or_assign(std::move(key), std::move(record));
                                   });
    // Nothing to fold (a plain snapshot, or no file yet): no rewrite at start-up.
    if (!read.exists) return;
    if (read.torn_tail || lines != rows_.size()) {
      compact();
      return;
    }
    snapshot_bytes_ = file_bytes_ = read.bytes;
    open_for_append();
  }
  ~TsvTable() {
    if (fd_ >= 0) ::close(fd_);
  }
  TsvTable(const TsvTable&) = delete;
  TsvTable& operator=(const TsvTable&) = delete;

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
  static constexpr std::uintmax_t kCompactSlack = 4u << 20;

  std::string line_of(const Key& key, const Record& record) const {
    std::ostringstream os;
    format_.write(os, key, record);
    os << '\n';
    return os.str();
  }

  void log_row(const Key& key) {
    auto it = rows_.find(key);
    if (it == rows_.end()) throw std::logic_error("TsvTable: save() of a key that is not there");
    append(line_of(key, it->second));
  }

  bool erase_row(const Key& key) {
    auto it = rows_.find(key);
    if (it == rows_.end()) return false;
    const std::string line = "-\t" + line_of(key, it->second);
    rows_.erase(it);
    append(line);
    return true;
  }

  void append(const std::string& line) {
    if (fd_ < 0) {  // the first change: the snapshot holds it
      compact();
      return;
    }
    std::size_t off = 0;
    while (off < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw std::runtime_error("cannot append to " + file_.string() + ": " + std::strerror(errno));
      off += static_cast<std::size_t>(n);
    }
    file_bytes_ += line.size();
    if (file_bytes_ > 2 * snapshot_bytes_ + kCompactSlack) compact();
  }

  void compact() {
    std::ostringstream os;
    os << "# " << format_.header << '\n';
    for (const auto& [key, record] : rows_) {
      format_.write(os, key, record);
      os << '\n';
    }
    const std::string text = os.str();
    write_private_file(file_, text);
    snapshot_bytes_ = file_bytes_ = text.size();
    open_for_append();
  }

  void open_for_append() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0)
      throw std::runtime_error("cannot open " + file_.string() + " for appending: " + std::strerror(errno));
  }

  const std::filesystem::path file_;
  const Format format_;
  mutable std::mutex mu_;
  Rows rows_;
  int fd_ = -1;  // the file, opened for appending (after the first snapshot)
  std::uintmax_t file_bytes_ = 0;
  std::uintmax_t snapshot_bytes_ = 0;
};

}  // namespace wa::sim
