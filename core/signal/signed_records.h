// Conversions between our key types and libsignal-protocol-c's keys and store records. The store
// keeps 32-byte keys (whatsmeow's layout); libsignal wants 33-byte DJB keys (0x05 || key) and its
// own serialized PreKeyRecordStructure / SignedPreKeyRecordStructure (e2e reference §8.3).
#pragma once

#include <cstdint>

#include <curve.h>

#include "core/signal/lsc_handles.h"
#include "core/signal/signal_stores.h"

namespace wa::signal {

// 0x05 || key
Bytes djb_public(const Key32& key);
lsc::Ref<ec_public_key> decode_public_key(signal_context* ctx, const Key32& key);
lsc::Ref<ec_key_pair> decode_key_pair(signal_context* ctx, const KeyPair& pair);
// The 32 key bytes of a libsignal public key.
Key32 public_key_bytes(const ec_public_key* key);

Bytes serialize_pre_key_record(signal_context* ctx, std::uint32_t id, const KeyPair& pair);
// Timestamp 0: the store keeps none, and libsignal only carries it along.
Bytes serialize_signed_pre_key_record(signal_context* ctx, const SignedPreKeyPair& spk);

}  // namespace wa::signal
