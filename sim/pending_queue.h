// What the message router holds for each device until that device acks it, kept in an
// append-only log (<state>/queue.log, 0600) so a message costs one appended line, not a rewrite:
//   a <user>:<device> <class> <id> <stanza hex> [<origin>]   queued
//   d <user>:<device> <class> <id> [<origin>]                acked (the entries with that class,
//                                                            id and origin; no origin: all of them)
//   c <user>:<device>                                        all dropped (device logged out, or taken)
// (tab-separated, one record per line). The file is bounded: once it holds more than twice the
// live entries' bytes plus 4 MiB it is rewritten with only the live entries (atomically), and at
// start-up after replaying it. A torn last line (a crash mid-append) is ignored. Appends are not
// fsynced: a killed wasim loses nothing (the page cache has it), a crashed machine may lose the tail.
// A queue.tsv from before (one full rewrite per change) is imported once and removed.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "core/crypto/bytes.h"

namespace wa::sim {

struct QueueLimits {
  std::size_t max_per_device = 10000;
  std::size_t max_total = 200000;
  std::size_t max_stanza_bytes = 16u << 20;
  std::size_t max_id_bytes = 128;
};

// Which stanza of a class and id an entry is: one device gets receipts with the same id from
// several devices (the contact's delivery receipt and its own phone's), and an ack settles one of
// them. "<user>:<device>" of the sender (the participant in groups), for receipts followed by
// "/<type>" ("" for a delivery receipt, which has no type). Empty: unknown (a log from before).
std::string queue_origin(std::pair<std::uint64_t, std::uint32_t> sender, const std::string* receipt_type);
// Whether an ack naming `acked` settles an entry of `origin` (either empty: yes).
bool origin_matches(std::string_view origin, std::string_view acked);

struct QueueRecord {
  enum class Op { add, drop, clear };
  Op op = Op::add;
  std::pair<std::uint64_t, std::uint32_t> device;
  std::string cls;           // "message" or "receipt" (add, drop)
  std::string id;            // (add, drop)
  wa::crypto::Bytes stanza;  // encoded node (add)
  std::string origin;        // queue_origin() (add, drop; may be empty)
};

using QueueLogError = wa::Error<struct QueueLogErrorTag>;

// Parses the log's text (untrusted bytes: a damaged or foreign file). A last line without '\n'
// is dropped as torn. Throws QueueLogError "line N: why" for anything else malformed.
std::vector<QueueRecord> parse_queue_log(std::string_view text, const QueueLimits& limits = {});

class PendingQueue {
 public:
  using DeviceKey = std::pair<std::uint64_t, std::uint32_t>;
  struct Item {
    std::string cls;
    std::string id;
    wa::crypto::Bytes stanza;
    std::string origin;  // queue_origin(); empty when unknown
  };

  // Loads <state_dir>/queue.log (and imports an old queue.tsv); throws std::runtime_error naming
  // the file on a malformed one.
  PendingQueue(const std::filesystem::path& state_dir, QueueLimits limits = {});
  ~PendingQueue();
  PendingQueue(const PendingQueue&) = delete;
  PendingQueue& operator=(const PendingQueue&) = delete;

  // False (nothing stored) when the device's queue or the total is full.
  bool push(DeviceKey d, Item item);
  // Drops the entries of `d` with this class and id whose origin matches `origin` (empty: every
  // one); true if there was one.
  bool drop(DeviceKey d, const std::string& cls, const std::string& id, const std::string& origin = {});
  // Removes and returns everything pending for `d`.
  std::deque<Item> take(DeviceKey d);
  void clear(DeviceKey d);
  const std::deque<Item>* items(DeviceKey d) const;
  std::size_t size(DeviceKey d) const;
  std::uintmax_t file_bytes() const { return file_bytes_; }

 private:
  void apply(QueueRecord&& r);
  void append(const std::string& line);
  void compact();
  void open_for_append();
  std::filesystem::path file_;
  QueueLimits limits_;
  std::map<DeviceKey, std::deque<Item>> q_;
  std::size_t total_ = 0;
  std::uintmax_t live_bytes_ = 0;  // bytes the live entries take in the log
  std::uintmax_t file_bytes_ = 0;
  int fd_ = -1;
};

}  // namespace wa::sim
