#include "core/client/receipt_handle.h"

#include <charconv>

namespace wa::client {

using binary::Jid;
using binary::Node;

namespace {

template <class T>
std::optional<T> to_int(const std::string& s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool valid_id(const std::string& id) { return !id.empty() && id.size() <= 128; }

}  // namespace

std::optional<ServerAck> parse_message_ack(const Node& n) {
  if (n.tag != "ack" || n.attr_text("class").value_or("") != "message") return std::nullopt;
  ServerAck a;
  a.id = n.attr_text("id").value_or("");
  if (!valid_id(a.id)) return std::nullopt;
  a.from = n.attr_text("from").value_or("");
  if (auto e = n.attr_text("error"); e && !e->empty() && *e != "0") a.error = *e;
  if (auto t = n.attr_text("t")) a.t = to_int<std::int64_t>(*t);
  if (auto p = n.attr_text("phash")) a.phash = *p;
  return a;
}

std::optional<Receipt> parse_receipt(const Node& n) {
  if (n.tag != "receipt") return std::nullopt;
  Receipt r;
  const auto id = n.attr_text("id").value_or("");
  if (!valid_id(id)) return std::nullopt;
  r.ids.push_back(id);
  auto from = Jid::parse(n.attr_text("from").value_or(""));
  if (!from || from->is_server()) return std::nullopt;
  if (from->is_group() || from->is_broadcast()) {
    auto p = Jid::parse(n.attr_text("participant").value_or(""));
    if (!p || p->is_server()) return std::nullopt;
    r.chat = from->to_non_ad();
    r.from = *p;
  } else {
    r.from = *from;
  }
  r.recipient = n.attr_text("recipient");
  r.type = n.attr_text("type").value_or("");
  if (r.type.empty() || r.type == "inactive") r.kind = ReceiptKind::delivered;
  else if (r.type == "read") r.kind = ReceiptKind::read;
  else if (r.type == "played") r.kind = ReceiptKind::played;
  else if (r.type == "sender") r.kind = ReceiptKind::sender;
  else if (r.type == "retry") r.kind = ReceiptKind::retry;
  if (const Node* list = n.child("list")) {
    for (const auto& item : list->children()) {
      if (r.ids.size() > kMaxReceiptIds) break;
      if (item.tag != "item") continue;
      auto iid = item.attr_text("id").value_or("");
      if (valid_id(iid)) r.ids.push_back(std::move(iid));
    }
  }
  if (r.kind == ReceiptKind::retry) {
    const Node* retry = n.child("retry");
    auto count = retry ? to_int<int>(retry->attr_text("count").value_or("")) : std::nullopt;
    if (!count || *count < 0) {
      r.kind = ReceiptKind::other;
      return r;
    }
    RetryRequest req;
    req.count = *count;
    if (const Node* reg = n.child("registration"); reg && reg->bytes() && reg->bytes()->size() == 4) {
      const auto& b = *reg->bytes();
      req.registration_id = (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
    }
    req.has_keys = n.child("keys") != nullptr;
    r.retry = req;
    if (req.has_keys) {
      try {
        r.bundle = signal::parse_bundle(n);
      } catch (const signal::BundleError&) {
        // Answered without the keys: re-encrypt on the session we have, if any.
      }
    }
  }
  return r;
}

}  // namespace wa::client
