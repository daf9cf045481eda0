// One WhatsApp device on our Signal layer (in-memory stores), driven over stdin/stdout by
// baileys_xcheck.mjs so that Baileys' libsignal judges what we encrypt and we decrypt what it
// encrypts. One JSON object per line in, one per line out: {"ok":true,...} or {"ok":false,"error"}.
// Commands (hex for bytes, 32-byte wire keys without 0x05):
//   init                                   → our bundle (registration, identity, spk, pre-key 1)
//   decrypt {name,device,type,hex}         → {text} (unpadded Message.conversation / extended text)
//   encrypt {name,device,text}             → {type,hex} (padded Message{conversation})
//   bundle  {name,device,registration,identity,spk_id,spk,spk_sig,pk_id?,pk?}
//   skdm    {group,name,device,hex}        (a member's SenderKeyDistributionMessage)
//   group_decrypt {group,name,device,hex}  → {text}
//   group_encrypt {group,name,device,text} → {skdm_hex, skmsg_hex} (our sender key as name:device)
#include <iostream>
#include <string>

#include "core/binary/json.h"
#include "core/client/message_content.h"
#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/prekey_bundle.h"
#include "core/signal/session_cipher.h"
#include "tests/core_signal/memory_signal_store.h"

using namespace wa;
using namespace wa::signal;

namespace {

const std::string& field(const binary::Json& j, std::string_view key) {
  const binary::Json* v = j.find(key);
  if (!v) throw std::invalid_argument("missing " + std::string(key));
  return v->text;
}
std::uint32_t number(const binary::Json& j, std::string_view key) {
  return static_cast<std::uint32_t>(std::stoul(field(j, key)));
}
Address address(const binary::Json& j) {
  return Address{field(j, "name"), number(j, "device")};
}
std::string quote(std::string_view s) {
  std::string out;
  binary::append_json_string(out, s);
  return out;
}
std::string text_of(ByteView padded) {
  auto c = client::decode_message(unpad(padded));
  if (!c.text) throw std::runtime_error("no text in message of type " + c.type);
  return *c.text;
}

}  // namespace

int main() {
  crypto::SignalContext ctx;
  auto store = test::MemorySignalStore::generate(1);
  ProtocolStore proto(ctx, store.stores());
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string out;
    try {
      auto j = binary::parse_json(line);
      const auto& cmd = field(j, "cmd");
      if (cmd == "init") {
        out = "{\"ok\":true,\"registration\":" + std::to_string(store.local.registration_id) +
              ",\"identity\":" + quote(crypto::to_hex(store.local.identity.pub)) +
              ",\"spk_id\":" + std::to_string(store.signed_pre_key.id) +
              ",\"spk\":" + quote(crypto::to_hex(store.signed_pre_key.pair.pub)) +
              ",\"spk_sig\":" + quote(crypto::to_hex(store.signed_pre_key.signature)) +
              ",\"pk_id\":1,\"pk\":" + quote(crypto::to_hex(store.pre_keys.at(1).pub)) + "}";
      } else if (cmd == "decrypt") {
        auto type = field(j, "type") == "pkmsg" ? CiphertextType::pkmsg : CiphertextType::msg;
        auto plain = decrypt(proto, address(j), type, crypto::from_hex(field(j, "hex")));
        out = "{\"ok\":true,\"text\":" + quote(text_of(plain)) + "}";
      } else if (cmd == "encrypt") {
        auto c = encrypt(proto, address(j), pad(client::encode_text_message(field(j, "text"))));
        out = "{\"ok\":true,\"type\":\"" + std::string(to_string(c.type)) + "\",\"hex\":\"" +
              crypto::to_hex(c.data) + "\"}";
      } else if (cmd == "bundle") {
        PreKeyBundle b;
        b.registration_id = number(j, "registration");
        b.identity = crypto::key32_from_hex(field(j, "identity"));
        b.signed_pre_key_id = number(j, "spk_id");
        b.signed_pre_key = crypto::key32_from_hex(field(j, "spk"));
        b.signed_pre_key_signature = crypto::from_hex(field(j, "spk_sig"));
        if (j.find("pk_id"))
          b.pre_key = PreKeyBundle::OneTime{number(j, "pk_id"), crypto::key32_from_hex(field(j, "pk"))};
        process_bundle(proto, address(j), b);
        out = "{\"ok\":true}";
      } else if (cmd == "skdm") {
        process_sender_key_distribution(proto, SenderKeyName{field(j, "group"), address(j)},
                                        crypto::from_hex(field(j, "hex")));
        out = "{\"ok\":true}";
      } else if (cmd == "group_decrypt") {
        auto plain = group_decrypt(proto, SenderKeyName{field(j, "group"), address(j)},
                                   crypto::from_hex(field(j, "hex")));
        out = "{\"ok\":true,\"text\":" + quote(text_of(plain)) + "}";
      } else if (cmd == "group_encrypt") {
        SenderKeyName name{field(j, "group"), address(j)};
        auto skdm = create_sender_key_distribution(proto, name);
        auto skmsg = group_encrypt(proto, name, pad(client::encode_text_message(field(j, "text"))));
        out = "{\"ok\":true,\"skdm_hex\":\"" + crypto::to_hex(skdm) + "\",\"skmsg_hex\":\"" +
              crypto::to_hex(skmsg) + "\"}";
      } else {
        throw std::invalid_argument("unknown cmd");
      }
    } catch (const std::exception& e) {
      out = "{\"ok\":false,\"error\":" + quote(e.what()) + "}";
    }
    std::cout << out << std::endl;
  }
  return 0;
}
