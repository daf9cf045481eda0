#include "core/signal/group_cipher.h"

#include <utility>

#include <group_cipher.h>
#include <group_session_builder.h>
#include <protocol.h>

#include "core/signal/lsc_handles.h"

namespace wa::signal {

namespace {

struct HookContext {
  ProtocolStore* store;
  const PlaintextHook* hook;
};

int group_hook(group_cipher*, signal_buffer* plaintext, void* decrypt_context) {
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

lsc::GroupSessionBuilder make_builder(ProtocolStore& store) {
  group_session_builder* raw = nullptr;
  store.run("create group session builder",
            [&] { return group_session_builder_create(&raw, store.get(), store.context()); });
  return lsc::GroupSessionBuilder(raw);
}

lsc::GroupCipher make_cipher(ProtocolStore& store, const LscSenderKeyName& name) {
  group_cipher* raw = nullptr;
  store.run("create group cipher",
            [&] { return group_cipher_create(&raw, store.get(), name.get(), store.context()); });
  return lsc::GroupCipher(raw);
}

void check_size(ByteView data, const char* what) {
  if (data.empty())
    throw SignalError(std::string(what) + ": empty input", 0, SignalErrorKind::invalid_message);
  if (data.size() > kMaxCiphertext)
    throw SignalError(std::string(what) + ": " + std::to_string(data.size()) + " bytes is over the limit", 0,
                      SignalErrorKind::invalid_message);
}

}  // namespace

Bytes create_sender_key_distribution(ProtocolStore& store, const SenderKeyName& name) {
  LscSenderKeyName n(name);
  auto builder = make_builder(store);
  sender_key_distribution_message* raw = nullptr;
  store.run("create sender key distribution",
            [&] { return group_session_builder_create_session(builder.get(), &raw, n.get()); });
  lsc::Ref<sender_key_distribution_message> skdm(raw);
  signal_buffer* ser = ciphertext_message_get_serialized(reinterpret_cast<ciphertext_message*>(skdm.get()));
  return Bytes(signal_buffer_data(ser), signal_buffer_data(ser) + signal_buffer_len(ser));
}

void process_sender_key_distribution(ProtocolStore& store, const SenderKeyName& name, ByteView skdm_bytes) {
  check_size(skdm_bytes, "process sender key distribution");
  sender_key_distribution_message* raw = nullptr;
  store.parse("parse sender key distribution", [&] {
    return sender_key_distribution_message_deserialize(&raw, skdm_bytes.data(), skdm_bytes.size(),
                                                       store.context());
  });
  lsc::Ref<sender_key_distribution_message> skdm(raw);
  LscSenderKeyName n(name);
  auto builder = make_builder(store);
  store.run("process sender key distribution",
            [&] { return group_session_builder_process_session(builder.get(), n.get(), skdm.get()); });
}

Bytes group_encrypt(ProtocolStore& store, const SenderKeyName& name, ByteView padded_plaintext) {
  LscSenderKeyName n(name);
  auto cipher = make_cipher(store, n);
  ciphertext_message* raw = nullptr;
  store.run("group encrypt", [&] {
    return group_cipher_encrypt(cipher.get(), padded_plaintext.data(), padded_plaintext.size(), &raw);
  });
  lsc::Ref<ciphertext_message> msg(raw);
  signal_buffer* ser = ciphertext_message_get_serialized(msg.get());
  return Bytes(signal_buffer_data(ser), signal_buffer_data(ser) + signal_buffer_len(ser));
}

Bytes group_decrypt(ProtocolStore& store, const SenderKeyName& name, ByteView skmsg,
                    const PlaintextHook& hook) {
  check_size(skmsg, "group decrypt");
  sender_key_message* raw = nullptr;
  store.parse("parse skmsg", [&] {
    return sender_key_message_deserialize(&raw, skmsg.data(), skmsg.size(), store.context());
  });
  lsc::Ref<sender_key_message> msg(raw);
  LscSenderKeyName n(name);
  auto cipher = make_cipher(store, n);
  group_cipher_set_decryption_callback(cipher.get(), group_hook);
  HookContext hc{&store, &hook};
  signal_buffer* plain = nullptr;
  lsc::Buffer owned;
  store.run("group decrypt", [&] {
    int rc = group_cipher_decrypt(cipher.get(), msg.get(), &hc, &plain);
    owned.reset(std::exchange(plain, nullptr));
    return rc;
  });
  if (!owned) throw SignalError("group decrypt: libsignal returned no plaintext", 0, SignalErrorKind::other);
  return Bytes(signal_buffer_data(owned.get()),
               signal_buffer_data(owned.get()) + signal_buffer_len(owned.get()));
}

}  // namespace wa::signal
