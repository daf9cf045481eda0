// The input side every incremental stream parser here needs (WebSocket frames, WA frames): bytes
// received but not yet parsed, held under a cap and compacted as they are consumed. A stream
// parser cannot resynchronise after bad bytes, so the first error poisons the buffer for good.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>

#include "core/crypto/bytes.h"

namespace wa::socket {

class StreamBuffer {
 public:
  enum class Refusal { used_after_error, over_cap };

  explicit StreamBuffer(std::size_t max_buffered) : max_buffered_(max_buffered) {}

  // Appends data and calls parse_one() until it returns false (more bytes needed). When the
  // data is refused, throws refuse(Refusal); whatever parse_one() throws marks the buffer failed
  // and propagates.
  template <class ParseOne, class Refuse>
  void feed(crypto::ByteView data, ParseOne&& parse_one, Refuse&& refuse) {
    if (failed_) throw refuse(Refusal::used_after_error);
    // Compact before growing; moving the tail is cheap once most of the buffer is consumed.
    if (pos_ > 0 && (pos_ == buf_.size() || pos_ > 65536)) {
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
      pos_ = 0;
    }
    if (size() + data.size() > max_buffered_) {
      failed_ = true;
      throw refuse(Refusal::over_cap);
    }
    buf_.insert(buf_.end(), data.begin(), data.end());
    try {
      while (parse_one()) {
      }
    } catch (...) {
      failed_ = true;
      throw;
    }
  }

  // What parse_one() has to look at; consume(n) drops the first n bytes of it.
  crypto::ByteView unparsed() const { return crypto::ByteView(buf_).subspan(pos_); }
  void consume(std::size_t n) { pos_ += n; }
  std::size_t size() const { return buf_.size() - pos_; }
  std::size_t max_buffered() const { return max_buffered_; }

 private:
  std::size_t max_buffered_;
  crypto::Bytes buf_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

// Pops the oldest parsed item, if any (the parsers' next()).
template <class T>
std::optional<T> take_front(std::deque<T>& ready) {
  if (ready.empty()) return std::nullopt;
  T item = std::move(ready.front());
  ready.pop_front();
  return item;
}

}  // namespace wa::socket
