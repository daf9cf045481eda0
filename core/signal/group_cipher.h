// Sender keys for groups (e2e reference §6): our SenderKeyDistributionMessage (SKDM) for a group,
// processing a member's SKDM, and skmsg encryption/decryption. Plaintexts are already padded.
#pragma once

#include "core/signal/protocol_store.h"
#include "core/signal/session_cipher.h"

namespace wa::signal {

// Our SKDM for `name` (group, own address), creating our sender key on first use. Its bytes go into
// Message.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage, sent pairwise.
Bytes create_sender_key_distribution(ProtocolStore& store, const SenderKeyName& name);

// Installs a member's sender key from the SKDM they sent us (name = group, member's address).
// Throws SignalError (invalid_message for malformed bytes).
void process_sender_key_distribution(ProtocolStore& store, const SenderKeyName& name, ByteView skdm);

// skmsg bytes (0x33 || SenderKeyMessage || 64-byte signature) for everyone holding our SKDM.
Bytes group_encrypt(ProtocolStore& store, const SenderKeyName& name, ByteView padded_plaintext);

// Throws SignalError kind no_session when we have no sender key for `name` (answer: retry receipt
// with keys), duplicate for an iteration already seen. The hook behaves as in session_cipher.h.
Bytes group_decrypt(ProtocolStore& store, const SenderKeyName& name, ByteView skmsg,
                    const PlaintextHook& hook = {});

}  // namespace wa::signal
