// wasim's state files: one record per line, tab-separated fields, mode 0600, rewritten
// atomically (root_key_store, phone_signal_store, pending_queue and message_router directly; the
// registries through tsv_table.h, which appends changes between rewrites).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace wa::sim {

// `text` split at every `sep`. Stops after max_fields + 1 pieces: a line with more fields than any
// record has is refused by the caller without splitting all of it.
std::vector<std::string_view> split_fields(std::string_view text, char sep, std::size_t max_fields);

// Makes the error for a bad line: "<file>:<line>: <why>".
using TsvError = std::function<std::runtime_error(const std::string& why)>;

// Calls `row` for every line of `path` that is neither empty nor a '#' comment; nothing when the
// file does not exist (first start). A line without exactly `fields` tab-separated fields throws.
void read_tsv(const std::filesystem::path& path, std::size_t fields,
              const std::function<void(const std::vector<std::string>& fields, const TsvError& bad)>& row);

// What read_tsv_log found.
struct TsvLogRead {
  bool exists = false;       // the file was there
  bool torn_tail = false;    // its last line had no '\n' (an append cut short) and was skipped
  std::uintmax_t bytes = 0;  // the bytes read, a torn tail included
};

// As read_tsv, for a snapshot followed by an append-only log (tsv_table.h): a line "-\t<fields>"
// is a removal (`removed` true), and a torn last line is skipped instead of refused.
TsvLogRead read_tsv_log(const std::filesystem::path& path, std::size_t fields,
                        const std::function<void(const std::vector<std::string>& fields, const TsvError& bad,
                                                 bool removed)>& row);

// Writes `content` to `path` atomically (temp file + rename) with mode 0600.
void write_private_file(const std::filesystem::path& path, const std::string& content);

}  // namespace wa::sim
