#include "core/signal/session_cipher.h"

#include <utility>

#include <protocol.h>
#include <session_cipher.h>

#include "core/signal/lsc_handles.h"

namespace wa::signal {

namespace {

struct HookContext {
  ProtocolStore* store;
  const PlaintextHook* hook;
};

int run_hook(signal_buffer* plaintext, void* decrypt_context) {
  auto* hc = static_cast<HookContext*>(decrypt_context);
  if (!hc || !hc->hook || !*hc->hook) return SG_SUCCESS;
  try {
    (*hc->hook)(ByteView(signal_buffer_data(plaintext), signal_buffer_len(plaintext)));
    return SG_SUCCESS;
  } catch (...) {
    hc->store->stash_current_exception();
    return kStoreCallbackFailed;
  }
}

int session_hook(session_cipher*, signal_buffer* plaintext, void* decrypt_context) {
  return run_hook(plaintext, decrypt_context);
}

lsc::SessionCipher make_cipher(ProtocolStore& store, const LscAddress& addr) {
  session_cipher* raw = nullptr;
  store.run("create session cipher",
            [&] { return session_cipher_create(&raw, store.get(), addr.get(), store.context()); });
  return lsc::SessionCipher(raw);
}

Bytes take(signal_buffer* raw) {
  lsc::Buffer b(raw);
  return Bytes(signal_buffer_data(raw), signal_buffer_data(raw) + signal_buffer_len(raw));
}

void check_size(ByteView data) {
  if (data.empty()) throw SignalError("decrypt: empty ciphertext", 0, SignalErrorKind::invalid_message);
  if (data.size() > kMaxCiphertext)
    throw SignalError("decrypt: ciphertext of " + std::to_string(data.size()) + " bytes is over the limit", 0,
                      SignalErrorKind::invalid_message);
}

}  // namespace

const char* to_string(CiphertextType t) {
  return t == CiphertextType::pkmsg ? "pkmsg" : "msg";
}

Ciphertext encrypt(ProtocolStore& store, const Address& to, ByteView padded_plaintext) {
  LscAddress addr(to);
  // Without this check libsignal would create an empty session and fail less clearly.
  if (!has_session(store, to))
    throw SignalError("encrypt: no session with this device", 0, SignalErrorKind::no_session);
  auto cipher = make_cipher(store, addr);
  ciphertext_message* raw = nullptr;
  store.run("encrypt", [&] {
    return session_cipher_encrypt(cipher.get(), padded_plaintext.data(), padded_plaintext.size(), &raw);
  });
  lsc::Ref<ciphertext_message> msg(raw);
  signal_buffer* ser = ciphertext_message_get_serialized(msg.get());  // owned by msg
  Ciphertext out;
  int type = ciphertext_message_get_type(msg.get());
  if (type == CIPHERTEXT_PREKEY_TYPE) {
    out.type = CiphertextType::pkmsg;
  } else if (type == CIPHERTEXT_SIGNAL_TYPE) {
    out.type = CiphertextType::msg;
  } else {
    throw SignalError("encrypt: unexpected ciphertext type " + std::to_string(type), 0,
                      SignalErrorKind::other);
  }
  out.data.assign(signal_buffer_data(ser), signal_buffer_data(ser) + signal_buffer_len(ser));
  return out;
}

Bytes decrypt(ProtocolStore& store, const Address& from, CiphertextType type, ByteView ciphertext,
              const PlaintextHook& hook) {
  check_size(ciphertext);
  LscAddress addr(from);
  HookContext hc{&store, &hook};
  signal_buffer* plain = nullptr;
  lsc::Buffer owned;  // owns the plaintext even when a stashed exception is rethrown
  if (type == CiphertextType::pkmsg) {
    pre_key_signal_message* raw = nullptr;
    store.parse("parse pkmsg", [&] {
      return pre_key_signal_message_deserialize(&raw, ciphertext.data(), ciphertext.size(), store.context());
    });
    lsc::Ref<pre_key_signal_message> msg(raw);
    auto cipher = make_cipher(store, addr);
    session_cipher_set_decryption_callback(cipher.get(), session_hook);
    store.run("decrypt pkmsg", [&] {
      int rc = session_cipher_decrypt_pre_key_signal_message(cipher.get(), msg.get(), &hc, &plain);
      owned.reset(std::exchange(plain, nullptr));
      return rc;
    });
  } else {
    signal_message* raw = nullptr;
    store.parse("parse msg", [&] {
      return signal_message_deserialize(&raw, ciphertext.data(), ciphertext.size(), store.context());
    });
    lsc::Ref<signal_message> msg(raw);
    auto cipher = make_cipher(store, addr);
    session_cipher_set_decryption_callback(cipher.get(), session_hook);
    store.run("decrypt msg", [&] {
      int rc = session_cipher_decrypt_signal_message(cipher.get(), msg.get(), &hc, &plain);
      owned.reset(std::exchange(plain, nullptr));
      return rc;
    });
  }
  if (!owned) throw SignalError("decrypt: libsignal returned no plaintext", 0, SignalErrorKind::other);
  return take(owned.release());
}

bool has_session(ProtocolStore& store, const Address& address) {
  LscAddress addr(address);
  return store.run("look up session",
                   [&] { return signal_protocol_session_contains_session(store.get(), addr.get()); }) == 1;
}

}  // namespace wa::signal
