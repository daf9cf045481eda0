#include "bench/codec/corpus.h"

#include <string>

namespace wa::bench {
namespace {

using binary::Attr;
using binary::Bytes;
using binary::Jid;
using binary::Node;
using binary::NodeList;

// xorshift64*: deterministic across compilers and platforms, unlike std:: distributions.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed ? seed : 0x9e3779b97f4a7c15ULL) {}
  std::uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545f4914f6cdd1dULL;
  }
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) { return lo + next() % (hi - lo + 1); }
  std::string digits(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('0' + next() % 10);
    if (!s.empty() && s[0] == '0') s[0] = '1';
    return s;
  }
  std::string hex_upper(std::size_t n) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += kHex[next() % 16];
    return s;
  }
  Bytes bytes(std::size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(next());
    return b;
  }

 private:
  std::uint64_t s_;
};

Jid user(Rng& r) { return Jid{r.digits(11), "s.whatsapp.net", 0, std::nullopt, 0}; }
Jid device(Rng& r) {
  return Jid{r.digits(11), r.range(0, 3) == 0 ? "lid" : "s.whatsapp.net", 0,
             static_cast<std::uint16_t>(r.range(1, 30)), 0};
}
Jid group(Rng& r) { return Jid{"120363" + r.digits(12), "g.us", 0, std::nullopt, 0}; }
Jid server() { return Jid{"", "s.whatsapp.net", 0, std::nullopt, 0}; }
std::string msg_id(Rng& r) { return "3EB0" + r.hex_upper(16); }
std::string timestamp(Rng& r) { return "17" + r.digits(8); }

Node message(Rng& r) {
  const bool in_group = r.range(0, 3) == 0;
  Node n{"message", {}, {}};
  n.attrs.push_back({"id", msg_id(r)});
  n.attrs.push_back({"from", in_group ? group(r) : user(r)});
  if (in_group) n.attrs.push_back({"participant", device(r)});
  n.attrs.push_back({"type", std::string(r.range(0, 4) ? "text" : "media")});
  n.attrs.push_back({"t", timestamp(r)});
  n.attrs.push_back({"notify", std::string("Contact ") + r.digits(3)});
  NodeList kids;
  kids.push_back(Node{"enc",
                      {{"v", std::string("2")}, {"type", std::string(r.range(0, 5) ? "msg" : "pkmsg")}},
                      r.bytes(r.range(40, 600))});
  if (in_group) kids.push_back(Node{"enc", {{"v", std::string("2")}, {"type", std::string("skmsg")}}, r.bytes(r.range(60, 300))});
  n.content = std::move(kids);
  return n;
}

Node receipt(Rng& r) {
  Node n{"receipt", {}, {}};
  n.attrs.push_back({"from", device(r)});
  n.attrs.push_back({"id", msg_id(r)});
  n.attrs.push_back({"t", timestamp(r)});
  if (r.range(0, 1)) n.attrs.push_back({"type", std::string("read")});
  if (r.range(0, 3) == 0) {
    NodeList items;
    for (std::uint64_t i = 0, k = r.range(1, 8); i < k; ++i) items.push_back(Node{"item", {{"id", msg_id(r)}}, {}});
    n.content = NodeList{Node{"list", {}, std::move(items)}};
  }
  return n;
}

Node ack(Rng& r) {
  return Node{"ack",
              {{"class", std::string("message")}, {"id", msg_id(r)}, {"from", user(r)}, {"t", timestamp(r)}},
              {}};
}

Node notification(Rng& r) {
  Node n{"notification", {}, {}};
  n.attrs.push_back({"from", server()});
  n.attrs.push_back({"type", std::string("encrypt")});
  n.attrs.push_back({"id", r.digits(10)});
  n.attrs.push_back({"t", timestamp(r)});
  n.content = NodeList{Node{"count", {{"value", r.digits(1)}}, {}}};
  return n;
}

Node presence(Rng& r) {
  return Node{"presence",
              {{"from", user(r)}, {"type", std::string(r.range(0, 1) ? "available" : "unavailable")},
               {"name", std::string("Pod ") + r.hex_upper(4) + " café"}},
              {}};
}

Node usync(Rng& r) {
  NodeList users;
  for (std::uint64_t i = 0, k = r.range(2, 20); i < k; ++i)
    users.push_back(Node{"user", {{"jid", user(r)}}, NodeList{Node{"devices", {{"version", std::string("2")}}, {}}}});
  NodeList query{Node{"devices", {{"version", std::string("2")}}, {}}};
  NodeList usync_kids{Node{"query", {}, std::move(query)}, Node{"list", {}, std::move(users)}};
  Node usync_node{"usync",
                  {{"sid", r.digits(12)}, {"mode", std::string("query")}, {"last", std::string("true")},
                   {"index", std::string("0")}, {"context", std::string("message")}},
                  std::move(usync_kids)};
  return Node{"iq",
              {{"id", r.digits(5) + "." + r.digits(5) + "-" + r.digits(2)}, {"xmlns", std::string("usync")},
               {"type", std::string("get")}, {"to", server()}},
              NodeList{std::move(usync_node)}};
}

Node ping(Rng& r) {
  return Node{"iq",
              {{"id", r.digits(5) + "." + r.digits(5) + "-" + r.digits(2)}, {"xmlns", std::string("w:p")},
               {"type", std::string("get")}, {"to", server()}},
              {}};
}

}  // namespace

std::vector<Node> make_corpus(std::size_t count, std::uint64_t seed) {
  Rng r(seed);
  std::vector<Node> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    // Roughly a busy companion's inbound mix: messages and receipts dominate.
    const auto k = r.range(0, 99);
    if (k < 35) out.push_back(message(r));
    else if (k < 60) out.push_back(receipt(r));
    else if (k < 75) out.push_back(ack(r));
    else if (k < 83) out.push_back(notification(r));
    else if (k < 91) out.push_back(presence(r));
    else if (k < 95) out.push_back(usync(r));
    else out.push_back(ping(r));
  }
  return out;
}

}  // namespace wa::bench
