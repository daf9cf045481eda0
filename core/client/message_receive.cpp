// Incoming <message> (e2e reference §4; whatsmeow message.go handleEncryptedMessage with the
// decrypted event buffer): parse; a ciphertext already in the inbox is a redelivery (receipt and
// ack, never decrypted again: its pre-key is gone and its ratchet moved on); otherwise decrypt
// every enc inside ONE fenced transaction that also stores the inbox row (from the content hook,
// before libsignal stores the ratchet) and the LID mapping; only after the commit the delivery
// receipt and the ack go out. A crash or fence before the commit leaves nothing stored and
// nothing acked, so the server delivers the message again, to whichever pod leads then.
#include <algorithm>

#include "common/log.h"
#include "common/mask.h"
#include "core/client/client_impl.h"
#include "core/client/message_decrypt.h"
#include "core/client/receipt_send.h"
#include "core/crypto/digest.h"

namespace wa::client {

namespace {

Bytes ciphertext_hash(const EncPayload& enc) {
  const auto h = crypto::sha256(crypto::ByteView(enc.ciphertext.data(), enc.ciphertext.size()));
  return Bytes(h.begin(), h.end());
}

bool digits(const std::string& s) {
  return !s.empty() && s.size() <= 32 && s.find_first_not_of("0123456789") == std::string::npos;
}

// The LID <-> phone-number pair a stanza reveals about its author (sender_pn / sender_lid,
// participant_pn / participant_lid), if any.
std::optional<std::pair<std::string, std::string>> lid_pair(const MessageInfo& info) {
  if (!info.sender_alt) return std::nullopt;
  const auto& a = info.sender;
  const auto& b = *info.sender_alt;
  std::optional<std::pair<std::string, std::string>> p;
  if (a.is_lid() && b.is_user()) p.emplace(a.user, b.user);
  if (a.is_user() && b.is_lid()) p.emplace(b.user, a.user);
  if (p && digits(p->first) && digits(p->second)) return p;
  return std::nullopt;
}

const char* failure_reason(const std::optional<signal::SignalErrorKind>& k) {
  if (!k) return "other";
  switch (*k) {
    case signal::SignalErrorKind::no_session:
    case signal::SignalErrorKind::no_pre_key: return "no_session";
    case signal::SignalErrorKind::invalid_mac: return "bad_mac";
    case signal::SignalErrorKind::invalid_message: return "invalid_message";
    default: return "other";
  }
}

}  // namespace

// One per account, for receiving and sending (send.cpp); declared after `messages` in Impl, whose
// stores it references, so it is destroyed first.
signal::ProtocolStore& WaClient::Impl::protocol_store() {
  if (!protocol) {
    signal_ctx = std::make_unique<crypto::SignalContext>();
    // whatsmeow AutoTrustIdentity: the new key is accepted; it is reported, never silent.
    protocol = std::make_unique<signal::ProtocolStore>(
        *signal_ctx, messages->signal_stores(), [this](const signal::IdentityChange& c) {
          wa::log::warn("wa_contact_identity_changed")
              .kv("business_id", business_id)
              .kv("contact", mask_phone(c.address.name))
              .kv("device", static_cast<std::int64_t>(c.address.device));
        });
  }
  return *protocol;
}

bool WaClient::Impl::message_store_call(const char* purpose, const std::function<void()>& call) {
  return store_call(purpose, call, {"wa_client_message_store_failed", "message store failed", true, true});
}

void WaClient::Impl::on_message(const Node& n) {
  if (!messages || !dev || !dev->paired()) return send(ack_for(n));
  OwnJids own;
  own.pn = binary::Jid::parse(dev->jid);
  if (!dev->lid.empty()) own.lid = binary::Jid::parse(dev->lid);
  MessageInfo info;
  try {
    info = parse_message_info(n, own);
  } catch (const MalformedMessage& e) {
    wa::log::warn("wa_message_malformed").kv("business_id", business_id).kv("error", e.what());
    return send(message_ack(n, kNackParsingError));
  }
  // Who and which message, never what it says.
  auto ctx = [&](wa::log::Line&& l) -> wa::log::Line& {
    return l.kv("business_id", business_id)
        .kv("id", info.id)
        .kv("from", mask_jid(info.sender.to_string()))
        .kv("offline", info.offline);
  };
  if (info.unavailable || info.encs.empty()) {
    ctx(wa::log::info("wa_message_unavailable"));
    return send(ack_for(n));
  }

  std::vector<Bytes> hashes;
  for (const auto& e : info.encs) hashes.push_back(ciphertext_hash(e));
  bool stored_before = false;
  if (!message_store_call("look up inbox", [&] {
        for (const auto& h : hashes)
          if (!stored_before && messages->inbox_contains(h)) stored_before = true;
      }))
    return;
  if (stored_before) {
    ctx(wa::log::info("wa_message_redelivery"));
    send(delivery_receipt(n, info));
    return send(ack_for(n));
  }

  MessageDecryptResult result;
  int rows = 0;
  int known = 0;
  const ContentHook hook = [&](const EncPayload& enc, const MessageContent& c) {
    // A bare sender-key distribution is Signal state (installed by decrypt_message), not a message.
    if (c.type == "sender_key_distribution") return;
    InboxEntry e;
    e.id = info.id;
    e.chat = info.chat.to_string();
    e.sender = info.sender.to_string();
    e.message_type = c.text ? "text" : c.type;
    e.text = c.text;
    e.server_ts = info.timestamp;
    e.ciphertext_hash = ciphertext_hash(enc);
    if (messages->inbox_put(e))
      ++rows;
    else
      ++known;  // the same message re-encrypted (a resend after our retry receipt)
  };
  const auto pair = lid_pair(info);
  if (!message_store_call("decrypt message", [&] {
        auto& ps = protocol_store();
        messages->transaction("decrypt message", [&] {
          if (pair) messages->put_lid_mapping(pair->first, pair->second);
          result = decrypt_message(ps, info, hook);
        });
      }))
    return;

  bool any_ok = false;
  bool malformed = false;
  for (const auto& r : result.encs) {
    auto l = wa::log::info("wa_message_enc");
    ctx(std::move(l)).kv("type", to_string(r.type)).kv("outcome", to_string(r.outcome));
    if (!r.error.empty()) l.kv("error", r.error);
    any_ok = any_ok || r.outcome == EncOutcome::decrypted || r.outcome == EncOutcome::duplicate;
    malformed = malformed || r.outcome == EncOutcome::malformed;
  }
  if (opt.on_decrypt_failure)
    for (const auto& r : result.encs)
      if (r.outcome == EncOutcome::failed) opt.on_decrypt_failure(failure_reason(r.error_kind));
  if (rows > 0 && opt.on_message_stored) {
    const auto* c = result.content();
    const std::string kind = c && c->text ? "text" : info.type == "media" ? "media" : "other";
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    for (int i = 0; i < rows; ++i)
      opt.on_message_stored(kind, std::max(0.0, now - static_cast<double>(info.timestamp)));
  }
  if (result.needs_retry()) return send_retry_receipt(n, info);
  retries.forget(info.id);
  if (malformed && !result.content()) return send(message_ack(n, kNackInvalidProtobuf));
  ctx(wa::log::info("wa_message_received")).kv("stored", rows).kv("already_stored", known);
  if (any_ok) send(delivery_receipt(n, info));
  send(ack_for(n));
}

void WaClient::Impl::send_retry_receipt(const Node& n, const MessageInfo& info) {
  std::optional<int> resend;
  for (const auto& e : info.encs)
    if (e.count) resend = std::max(resend.value_or(0), *e.count);
  const int count = retries.next(info.id, resend);
  auto ctx = [&](wa::log::Line&& l) -> wa::log::Line& {
    return l.kv("business_id", business_id)
        .kv("id", info.id)
        .kv("from", mask_jid(info.sender.to_string()))
        .kv("count", count);
  };
  if (count >= kMaxRetryCount) {
    ctx(wa::log::warn("wa_message_retry_exhausted"));
    return send(ack_for(n));
  }
  std::optional<RetryKeys> keys;
  if (count >= 2) {
    // From the second retry on the sender gets a fresh pre-key to start a new session with; it is
    // stored before it is sent, so the pkmsg that uses it finds it.
    RetryKeys k;
    k.identity_pub = dev->identity_key.pub;
    k.signed_pre_key = dev->signed_pre_key;
    try {
      k.device_identity = device_identity_for_wire(dev->account);
    } catch (const std::exception& e) {
      ctx(wa::log::warn("wa_message_retry_no_identity")).kv("error", e.what());
    }
    std::uint32_t id = 0;
    if (!message_store_call("next pre-key id", [&] { id = store->next_pre_key_id(); })) return;
    if (id == 0 || id > kMaxPreKeyId) id = 1;
    k.pre_key = PreKey{id, KeyPair::generate(), false};
    if (!store_write("save retry pre-key", [&] { store->save_pre_keys({k.pre_key}); })) return;
    keys = std::move(k);
  }
  ctx(wa::log::warn("wa_message_retry_receipt"));
  send(retry_receipt(n, info, count, dev->registration_id, keys));
  send(ack_for(n));
}

}  // namespace wa::client
