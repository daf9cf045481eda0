#include "sim/stanzas.h"

#include <atomic>
#include <chrono>

#include "core/client/stanzas.h"
#include "core/crypto/base64.h"
#include "core/crypto/random.h"

namespace wa::sim {

using wa::client::server_jid;

namespace {

std::string text_attr(const Node& n, std::string_view key) { return n.attr_text(key).value_or(""); }

// The answer to a client request, with the server's time as the real server sends it.
Node iq_result(const Node& in, NodeList children = {}) {
  Node r = iq_reply(in, "result", std::move(children));
  r.attrs.push_back(Attr{"t", unix_seconds()});
  return r;
}

}  // namespace

std::string unix_seconds() {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

Node iq_reply(const Node& in, const std::string& type, NodeList children) {
  Node r{"iq", {{"from", server_jid()}, {"type", type}, {"id", text_attr(in, "id")}}, {}};
  if (!children.empty()) r.content = std::move(children);
  return r;
}

Node iq_error(const Node& in, int code, const std::string& text) {
  return iq_reply(in, "error", {Node{"error", {{"code", std::to_string(code)}, {"text", text}}, {}}});
}

std::string new_stanza_id() {
  static std::atomic<std::uint32_t> counter{1};
  auto r = wa::crypto::random_bytes(4);
  std::uint32_t a = (std::uint32_t{r[0]} << 8) | r[1];
  std::uint32_t b = (std::uint32_t{r[2]} << 8) | r[3];
  return std::to_string(a) + "." + std::to_string(b) + "-" + std::to_string(counter++);
}

std::vector<std::string> make_pair_refs(std::size_t count) {
  std::vector<std::string> refs;
  for (std::size_t i = 0; i < count; ++i) refs.push_back("2@" + wa::crypto::base64_encode(wa::crypto::random_bytes(48)));
  return refs;
}

Node pair_device_iq(const std::string& id, const std::vector<std::string>& refs) {
  NodeList ref_nodes;
  for (const auto& r : refs) ref_nodes.push_back(Node{"ref", {}, wa::binary::Bytes(r.begin(), r.end())});
  // `type` and `id` come before `xmlns`: Baileys 6 routes on "CB:iq,type:set,pair-device" and
  // whatever attribute order it sees, it emits one event per attribute, so any order works; this
  // is the order the real server uses.
  return Node{"iq",
              {{"from", server_jid()}, {"type", std::string("set")}, {"id", id}, {"xmlns", std::string("md")}},
              NodeList{Node{"pair-device", {}, std::move(ref_nodes)}}};
}

Node failure(int reason) {
  return Node{"failure", {{"reason", std::to_string(reason)}, {"location", std::string("wasim")}}, {}};
}

std::vector<Node> reply_to(const Node& in) {
  const std::string& tag = in.tag;
  if (tag == "iq") {
    const auto type = text_attr(in, "type");
    const auto xmlns = text_attr(in, "xmlns");
    if (type == "result" || type == "error") return {};  // answers to our IQs (pair-device)
    if (!in.attr("id")) return {};                          // unanswerable
    if (xmlns == "w:p" || in.child("ping")) return {iq_result(in)};  // keepalive (WM: no child; B6: <ping/>)
    if (xmlns == "passive") return {iq_result(in)};
    if (xmlns == "encrypt" && type == "get" && in.child("count"))
      return {iq_result(in, {Node{"count", {{"value", std::string("0")}}, {}}})};
    if (xmlns == "encrypt" && type == "set") return {iq_result(in)};
    // A/B props (Baileys fetchProps, whatsmeow FetchAppState prerequisites): none to offer.
    if (xmlns == "w" && type == "get" && in.child("props"))
      return {iq_result(in, {Node{"props", {{"protocol", std::string("2")}, {"hash", std::string("wasim")}}, {}}})};
    return {iq_error(in, 501, "feature-not-implemented")};
  }
  if (tag == "message" || tag == "receipt" || tag == "notification" || tag == "call") {
    if (!in.attr("id")) return {};
    Node ack{"ack", {{"class", tag}, {"id", text_attr(in, "id")}, {"from", server_jid()}}, {}};
    if (tag != "message") {
      if (auto t = in.attr("type")) ack.attrs.push_back(Attr{"type", *t});
    }
    ack.attrs.push_back(Attr{"t", unix_seconds()});
    return {ack};
  }
  return {};
}

}  // namespace wa::sim
