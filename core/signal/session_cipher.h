// Pairwise encryption (e2e reference §4.3, §5): pkmsg / msg with libsignal-protocol-c sessions.
// Plaintexts here are already padded (core/signal/padding.h); ciphertexts are the <enc> contents.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "core/signal/protocol_store.h"

namespace wa::signal {

enum class CiphertextType { pkmsg, msg };
const char* to_string(CiphertextType t);

struct Ciphertext {
  CiphertextType type = CiphertextType::msg;
  Bytes data;
};

// Ciphertexts larger than this are refused before libsignal parses them (a transport frame is at
// most 16 MiB; a WhatsApp text is at most 65,536 characters).
inline constexpr std::size_t kMaxCiphertext = 4u << 20;

// Runs after decryption and before libsignal stores the advanced ratchet (and removes the used
// pre-key): the hook for persisting the plaintext in the same transaction as the session update
// (whatsmeow's decrypted event buffer). If it throws, the session is not stored and the exception
// propagates, so the same ciphertext can be decrypted again later.
using PlaintextHook = std::function<void(ByteView plaintext)>;

// Encrypts for `to`; pkmsg while the session is not yet confirmed by a reply, msg afterwards.
// Throws SignalError (kind no_session) when there is no session: build one from a bundle first.
Ciphertext encrypt(ProtocolStore& store, const Address& to, ByteView padded_plaintext);

// Decrypts a pkmsg or msg from `from`. Throws SignalError (see signal_error.h for the kinds) or
// whatever a store callback or the hook threw.
Bytes decrypt(ProtocolStore& store, const Address& from, CiphertextType type, ByteView ciphertext,
              const PlaintextHook& hook = {});

bool has_session(ProtocolStore& store, const Address& address);

}  // namespace wa::signal
