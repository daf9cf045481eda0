#include "sim/prekey_server.h"

#include <ostream>

#include "sim/stanzas.h"

namespace wa::sim {
namespace {

using wa::crypto::Bytes;

constexpr std::size_t kMaxDevices = 100000;

const Bytes& exact_bytes(const Node* parent, std::string_view tag, std::size_t width) {
  const Node* c = parent ? parent->child(tag) : nullptr;
  const Bytes* b = c ? c->bytes() : nullptr;
  if (!b || b->size() != width)
    throw UploadError("<" + std::string(tag) + "> must be " + std::to_string(width) + " bytes");
  return *b;
}

std::uint32_t be_value(const Bytes& b) {
  std::uint32_t v = 0;
  for (auto x : b) v = (v << 8) | x;
  return v;
}

wa::crypto::Key32 key_of(const Bytes& b) {
  return wa::crypto::key32_from(b);
}

Node bytes_node(std::string tag, Bytes b) {
  return Node{std::move(tag), {}, std::move(b)};
}

std::uint64_t parse_u64(const std::string& s, const TsvError& bad, std::uint64_t max) {
  std::size_t pos = 0;
  std::uint64_t v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (const std::logic_error&) {
    throw bad("bad number");
  }
  if (pos != s.size() || v > max || s.empty() || s[0] == '-') throw bad("bad number");
  return v;
}

std::pair<PreKeyServer::DeviceKey, DeviceKeys> read_device_keys(const std::vector<std::string>& f,
                                                                const TsvError& bad) {
  PreKeyServer::DeviceKey d{parse_u64(f[0], bad, ~0ull),
                            static_cast<std::uint32_t>(parse_u64(f[1], bad, 0xFFFF))};
  DeviceKeys k;
  try {
    k.registration_id = static_cast<std::uint32_t>(parse_u64(f[2], bad, 0xFFFFFFFFu));
    k.identity = wa::crypto::key32_from_hex(f[3], "identity");
    k.signed_pre_key_id = static_cast<std::uint32_t>(parse_u64(f[4], bad, 0xFFFFFF));
    k.signed_pre_key = wa::crypto::key32_from_hex(f[5], "signed pre-key");
    k.signature = wa::crypto::from_hex(f[6]);
    if (k.signature.size() != 64) throw bad("signature must be 64 bytes");
    std::size_t start = 0;
    while (start < f[7].size()) {
      auto comma = f[7].find(',', start);
      const std::string item =
          f[7].substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      auto colon = item.find(':');
      if (colon == std::string::npos) throw bad("one-time keys are id:hex");
      if (k.one_time.size() >= PreKeyServer::kMaxKeysPerDevice) throw bad("too many one-time keys");
      k.one_time[static_cast<std::uint32_t>(parse_u64(item.substr(0, colon), bad, 0xFFFFFF))] =
          wa::crypto::key32_from_hex(item.substr(colon + 1), "pre-key");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } catch (const std::invalid_argument& e) {
    throw bad(e.what());
  }
  return {d, std::move(k)};
}

void write_device_keys(std::ostream& os, const PreKeyServer::DeviceKey& d, const DeviceKeys& k) {
  os << d.first << '\t' << d.second << '\t' << k.registration_id << '\t' << wa::crypto::to_hex(k.identity)
     << '\t' << k.signed_pre_key_id << '\t' << wa::crypto::to_hex(k.signed_pre_key) << '\t'
     << wa::crypto::to_hex(k.signature) << '\t';
  bool first = true;
  for (const auto& [id, key] : k.one_time) {
    os << (first ? "" : ",") << id << ':' << wa::crypto::to_hex(key);
    first = false;
  }
}

}  // namespace

PreKeyServer::PreKeyServer(std::filesystem::path state_dir)
    : keys_(std::move(state_dir) / "prekeys.tsv",
            {"user\tdevice\tregistration\tidentity\tskey_id\tskey\tsignature\tone_time(id:key,...)", 8,
             kMaxDevices, "devices", read_device_keys, write_device_keys}) {}

Bytes be_bytes(std::uint32_t v, std::size_t width) {
  Bytes out(width);
  for (std::size_t i = 0; i < width; ++i) out[width - 1 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}

void PreKeyServer::upload(DeviceKey d, const Node& iq) {
  DeviceKeys in;
  in.registration_id = be_value(exact_bytes(&iq, "registration", 4));
  if (exact_bytes(&iq, "type", 1)[0] != 5) throw UploadError("<type> must be 0x05");
  in.identity = key_of(exact_bytes(&iq, "identity", 32));
  const Node* skey = iq.child("skey");
  in.signed_pre_key_id = be_value(exact_bytes(skey, "id", 3));
  in.signed_pre_key = key_of(exact_bytes(skey, "value", 32));
  in.signature = exact_bytes(skey, "signature", 64);
  const Node* list = iq.child("list");
  if (!list) throw UploadError("no <list> of pre-keys");
  if (auto kids = std::get_if<NodeList>(&list->content)) {
    if (kids->size() > kMaxKeysPerUpload) throw UploadError("too many pre-keys in one upload");
    for (const auto& k : *kids) {
      if (k.tag != "key") throw UploadError("<list> holds only <key>");
      in.one_time[be_value(exact_bytes(&k, "id", 3))] = key_of(exact_bytes(&k, "value", 32));
    }
  }
  auto keys = keys_.lock();
  auto it = keys->find(d);
  if (it == keys->end() && keys->size() >= kMaxDevices)
    throw UploadError("the server holds too many devices");
  DeviceKeys& slot = (*keys)[d];
  const bool same_identity = it != keys->end() && slot.identity == in.identity;
  // A new identity (re-linked device) makes the old one-time keys worthless.
  if (same_identity) {
    for (auto& [id, key] : slot.one_time) in.one_time.emplace(id, key);
  }
  if (in.one_time.size() > kMaxKeysPerDevice) {
    if (it == keys->end()) keys->erase(d);
    throw UploadError("the device would hold more than " + std::to_string(kMaxKeysPerDevice) + " pre-keys");
  }
  slot = std::move(in);
  keys.save(d);
}

void PreKeyServer::register_device(DeviceKey d, DeviceKeys k) {
  if (k.signature.size() != 64) throw UploadError("the registration's signed pre-key signature must be 64 bytes");
  auto keys = keys_.lock();
  auto it = keys->find(d);
  if (it == keys->end() && keys->size() >= kMaxDevices)
    throw UploadError("the server holds too many devices");
  // Same identity: the device's own uploads since are newer than its registration; keep them.
  if (it != keys->end() && it->second.identity == k.identity) return;
  k.one_time.clear();
  (*keys)[d] = std::move(k);
  keys.save(d);
}

std::size_t PreKeyServer::count(DeviceKey d) const {
  return keys_.read([&](const auto& keys) -> std::size_t {
    auto it = keys.find(d);
    return it == keys.end() ? 0 : it->second.one_time.size();
  });
}

bool PreKeyServer::has(DeviceKey d) const {
  return keys_.read([&](const auto& keys) { return keys.count(d) != 0; });
}

std::optional<DeviceKeys> PreKeyServer::find(DeviceKey d) const {
  return keys_.find(d);
}

std::optional<Node> PreKeyServer::take_bundle(DeviceKey d, const wa::binary::Jid& jid) {
  auto keys = keys_.lock();
  auto it = keys->find(d);
  if (it == keys->end()) return std::nullopt;
  DeviceKeys& k = it->second;
  NodeList kids{bytes_node("registration", be_bytes(k.registration_id, 4)), bytes_node("type", Bytes{5}),
                bytes_node("identity", Bytes(k.identity.begin(), k.identity.end())),
                Node{"skey",
                     {},
                     NodeList{bytes_node("id", be_bytes(k.signed_pre_key_id, 3)),
                              bytes_node("value", Bytes(k.signed_pre_key.begin(), k.signed_pre_key.end())),
                              bytes_node("signature", k.signature)}}};
  if (!k.one_time.empty()) {
    auto first = k.one_time.begin();
    kids.push_back(Node{"key",
                        {},
                        NodeList{bytes_node("id", be_bytes(first->first, 3)),
                                 bytes_node("value", Bytes(first->second.begin(), first->second.end()))}});
    k.one_time.erase(first);  // one-time: never handed out twice
    keys.save(d);
  }
  return Node{"user", {{"jid", jid}}, std::move(kids)};
}

void PreKeyServer::forget(DeviceKey d) {
  keys_.lock().erase(d);
}

}  // namespace wa::sim
