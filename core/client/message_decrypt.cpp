#include "core/client/message_decrypt.h"

#include "core/signal/group_cipher.h"
#include "core/signal/padding.h"
#include "core/signal/session_cipher.h"

namespace wa::client {

namespace {

// What the libsignal decryption callback learned about one enc's plaintext.
struct Decoded {
  std::optional<MessageContent> content;
  std::string malformed;  // why the plaintext could not be decoded
};

// Runs inside the decryption callback: unpad and decode, hand the content to the caller. A bad
// plaintext is not an exception here: the message was authentically sent and must not be
// decrypted again, so the ratchet advances and the failure is reported.
signal::PlaintextHook decode_hook(const EncPayload& enc, const ContentHook& on_content,
                                  const MessageLimits& limits, Decoded& out) {
  return [&enc, &on_content, &limits, &out](crypto::ByteView padded) {
    out = {};
    try {
      out.content = decode_message(signal::unpad(padded), limits);
    } catch (const signal::PaddingError& e) {
      out.malformed = e.what();
      return;
    } catch (const MessageDecodeError& e) {
      out.malformed = e.what();
      return;
    }
    if (on_content) on_content(enc, *out.content);
  };
}

void set_decoded(EncResult& r, Decoded& d) {
  if (d.content) {
    r.outcome = EncOutcome::decrypted;
    r.content = std::move(d.content);
  } else {
    r.outcome = EncOutcome::malformed;
    r.error = d.malformed;
  }
}

}  // namespace

const char* to_string(EncOutcome o) {
  switch (o) {
    case EncOutcome::decrypted: return "decrypted";
    case EncOutcome::duplicate: return "duplicate";
    case EncOutcome::failed: return "failed";
    case EncOutcome::malformed: return "malformed";
    case EncOutcome::unsupported: return "unsupported";
  }
  return "failed";
}

bool MessageDecryptResult::needs_retry() const {
  for (const auto& e : encs)
    if (e.outcome == EncOutcome::failed) return true;
  return false;
}

const MessageContent* MessageDecryptResult::content() const {
  const MessageContent* out = nullptr;
  for (const auto& e : encs)
    if (e.content && e.content->type != "sender_key_distribution") out = &*e.content;
  return out;
}

MessageDecryptResult decrypt_message(signal::ProtocolStore& store, const MessageInfo& info,
                                     const ContentHook& on_content, const AddressResolver& resolve,
                                     const MessageLimits& limits) {
  const signal::Address sender = resolve ? resolve(info.sender) : signal::Address::from_jid(info.sender);
  MessageDecryptResult result;
  for (const auto& enc : info.encs) {
    EncResult r;
    r.type = enc.type;
    if (enc.version != 2 ||
        (enc.type != EncType::pkmsg && enc.type != EncType::msg && enc.type != EncType::skmsg)) {
      r.outcome = EncOutcome::unsupported;
      r.error = "enc v=" + std::to_string(enc.version) + " type " + enc.type_text + " is not handled";
      result.encs.push_back(std::move(r));
      continue;
    }
    Decoded decoded;
    try {
      auto hook = decode_hook(enc, on_content, limits, decoded);
      if (enc.type == EncType::skmsg) {
        signal::group_decrypt(store, signal::SenderKeyName{info.chat.to_string(), sender}, enc.ciphertext,
                              hook);
      } else {
        auto type = enc.type == EncType::pkmsg ? signal::CiphertextType::pkmsg : signal::CiphertextType::msg;
        signal::decrypt(store, sender, type, enc.ciphertext, hook);
      }
      set_decoded(r, decoded);
    } catch (const signal::SignalError& e) {
      r.outcome = e.kind() == signal::SignalErrorKind::duplicate ? EncOutcome::duplicate : EncOutcome::failed;
      r.error_kind = e.kind();
      r.error = e.what();
    }
    // A sender key distributed in this enc opens the skmsg that follows (whatsmeow handles the
    // SKDM before the next enc). It is named by the chat the stanza came from, not by the group
    // id inside, so a member cannot plant a key for another group.
    if (r.content && r.content->sender_key_distribution && info.is_group) {
      try {
        signal::process_sender_key_distribution(store, signal::SenderKeyName{info.chat.to_string(), sender},
                                                r.content->sender_key_distribution->distribution);
      } catch (const signal::SignalError& e) {
        // The enc's own content stays usable; the skmsg that needed this key fails on its own.
        r.error = std::string("sender key distribution: ") + e.what();
      }
    }
    result.encs.push_back(std::move(r));
  }
  return result;
}

}  // namespace wa::client
