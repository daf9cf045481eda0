#include "core/signal/protocol_store.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include <curve.h>
#include <session_pre_key.h>
#include <signal_protocol.h>

#include "core/crypto/crypto_error.h"
#include "core/signal/lsc_handles.h"
#include "core/signal/signed_records.h"

namespace wa::signal {

namespace {

ProtocolStore& self(void* user_data) {
  return *static_cast<ProtocolStore*>(user_data);
}

// Runs a callback body; an exception is stashed and becomes kStoreCallbackFailed.
template <class F>
int guarded(void* user_data, F&& body) {
  try {
    return body();
  } catch (...) {
    self(user_data).stash_current_exception();
    return kStoreCallbackFailed;
  }
}

int give_buffer(signal_buffer** out, ByteView data) {
  *out = signal_buffer_create(data.data(), data.size());
  return *out ? SG_SUCCESS : SG_ERR_NOMEM;
}

SenderKeyName from_lsc(const signal_protocol_sender_key_name& n) {
  return SenderKeyName{std::string(n.group_id, n.group_id_len), wa::signal::from_lsc(n.sender)};
}

// 33-byte serialized key (0x05 || 32) → the 32 bytes the store keeps.
Key32 strip_key_type(const uint8_t* data, size_t len) {
  if (len != 33 || data[0] != 0x05) throw crypto::CryptoError("identity key is not a 33-byte DJB key");
  Key32 k{};
  std::memcpy(k.data(), data + 1, 32);
  return k;
}

}  // namespace

Address from_lsc(const signal_protocol_address& a) {
  return Address{std::string(a.name, a.name_len), static_cast<std::uint32_t>(a.device_id)};
}

struct StoreCallbacks {
  // --- sessions ---
  static int load_session(signal_buffer** record, signal_buffer** user_record,
                          const signal_protocol_address* a, void* ud) {
    return guarded(ud, [&] {
      *user_record = nullptr;
      auto r = self(ud).stores_.sessions.load_session(from_lsc(*a));
      if (!r) return 0;
      int rc = give_buffer(record, *r);
      return rc < 0 ? rc : 1;
    });
  }
  static int sub_device_sessions(signal_int_list** sessions, const char* name, size_t name_len, void* ud) {
    return guarded(ud, [&] {
      auto ids = self(ud).stores_.sessions.sub_device_sessions(std::string(name, name_len));
      lsc::IntList list(signal_int_list_alloc());
      if (!list) return SG_ERR_NOMEM;
      for (auto id : ids)
        if (signal_int_list_push_back(list.get(), static_cast<int>(id)) < 0) return SG_ERR_NOMEM;
      *sessions = list.release();
      return static_cast<int>(ids.size());
    });
  }
  static int store_session(const signal_protocol_address* a, uint8_t* record, size_t len, uint8_t*, size_t,
                           void* ud) {
    return guarded(ud, [&] {
      self(ud).stores_.sessions.store_session(from_lsc(*a), ByteView(record, len));
      return SG_SUCCESS;
    });
  }
  static int contains_session(const signal_protocol_address* a, void* ud) {
    return guarded(ud, [&] { return self(ud).stores_.sessions.contains_session(from_lsc(*a)) ? 1 : 0; });
  }
  static int delete_session(const signal_protocol_address* a, void* ud) {
    return guarded(ud, [&] { return self(ud).stores_.sessions.delete_session(from_lsc(*a)) ? 1 : 0; });
  }
  static int delete_all_sessions(const char* name, size_t name_len, void* ud) {
    return guarded(ud, [&] {
      return static_cast<int>(self(ud).stores_.sessions.delete_all_sessions(std::string(name, name_len)));
    });
  }

  // --- one-time pre-keys: records are built from the stored key pair ---
  static int load_pre_key(signal_buffer** record, uint32_t id, void* ud) {
    return guarded(ud, [&] {
      auto& s = self(ud);
      auto pair = s.stores_.pre_keys.load_pre_key(id);
      if (!pair) return SG_ERR_INVALID_KEY_ID;
      Bytes rec = serialize_pre_key_record(s.context(), id, *pair);
      return give_buffer(record, rec);
    });
  }
  // Pre-keys are created and uploaded through the device store, never through libsignal.
  static int store_pre_key(uint32_t, uint8_t*, size_t, void*) { return SG_ERR_INVAL; }
  static int contains_pre_key(uint32_t id, void* ud) {
    return guarded(ud, [&] { return self(ud).stores_.pre_keys.load_pre_key(id) ? 1 : 0; });
  }
  static int remove_pre_key(uint32_t id, void* ud) {
    return guarded(ud, [&] {
      self(ud).stores_.pre_keys.remove_pre_key(id);
      return SG_SUCCESS;
    });
  }

  // --- signed pre-key ---
  static int load_signed_pre_key(signal_buffer** record, uint32_t id, void* ud) {
    return guarded(ud, [&] {
      auto& s = self(ud);
      auto spk = s.stores_.signed_pre_keys.load_signed_pre_key(id);
      if (!spk) return SG_ERR_INVALID_KEY_ID;
      Bytes rec = serialize_signed_pre_key_record(s.context(), *spk);
      return give_buffer(record, rec);
    });
  }
  static int store_signed_pre_key(uint32_t, uint8_t*, size_t, void*) { return SG_ERR_INVAL; }
  static int contains_signed_pre_key(uint32_t id, void* ud) {
    return guarded(ud, [&] { return self(ud).stores_.signed_pre_keys.load_signed_pre_key(id) ? 1 : 0; });
  }
  // The signed pre-key belongs to the device; libsignal never removes it on its own.
  static int remove_signed_pre_key(uint32_t, void*) { return SG_ERR_INVAL; }

  // --- identities ---
  static int get_identity_key_pair(signal_buffer** public_data, signal_buffer** private_data, void* ud) {
    return guarded(ud, [&] {
      auto local = self(ud).stores_.identities.local_identity();
      Bytes pub(33);
      pub[0] = 0x05;
      std::copy(local.identity.pub.begin(), local.identity.pub.end(), pub.begin() + 1);
      lsc::Buffer p(signal_buffer_create(pub.data(), pub.size()));
      lsc::Buffer q(signal_buffer_create(local.identity.priv.data(), local.identity.priv.size()));
      if (!p || !q) return SG_ERR_NOMEM;
      *public_data = p.release();
      *private_data = q.release();
      return SG_SUCCESS;
    });
  }
  // Note: user_data comes first here (library quirk, e2e reference §8.2).
  static int get_local_registration_id(void* ud, uint32_t* registration_id) {
    return guarded(ud, [&] {
      *registration_id = self(ud).stores_.identities.local_identity().registration_id;
      return SG_SUCCESS;
    });
  }
  static int save_identity(const signal_protocol_address* a, uint8_t* key_data, size_t key_len, void* ud) {
    return guarded(ud, [&] {
      auto& s = self(ud);
      Address addr = from_lsc(*a);
      if (!key_data) {
        s.stores_.identities.delete_identity(addr);
        return SG_SUCCESS;
      }
      Key32 key = strip_key_type(key_data, key_len);
      auto previous = s.stores_.identities.load_identity(addr);
      s.stores_.identities.save_identity(addr, key);
      if (previous && *previous != key) s.changes_.push_back(IdentityChange{addr, *previous, key});
      return SG_SUCCESS;
    });
  }
  // Trust on first use, and accept a changed key (reported when it is saved): whatsmeow's
  // AutoTrustIdentity. Returning "untrusted" would only make the message undecryptable.
  static int is_trusted_identity(const signal_protocol_address*, uint8_t* key_data, size_t key_len,
                                 void* ud) {
    return guarded(ud, [&] {
      strip_key_type(key_data, key_len);  // reject anything that is not a DJB key
      return 1;
    });
  }

  // --- sender keys ---
  static int store_sender_key(const signal_protocol_sender_key_name* n, uint8_t* record, size_t len, uint8_t*,
                              size_t, void* ud) {
    return guarded(ud, [&] {
      self(ud).stores_.sender_keys.store_sender_key(from_lsc(*n), ByteView(record, len));
      return SG_SUCCESS;
    });
  }
  static int load_sender_key(signal_buffer** record, signal_buffer** user_record,
                             const signal_protocol_sender_key_name* n, void* ud) {
    return guarded(ud, [&] {
      *user_record = nullptr;
      auto r = self(ud).stores_.sender_keys.load_sender_key(from_lsc(*n));
      if (!r) return 0;
      int rc = give_buffer(record, *r);
      return rc < 0 ? rc : 1;
    });
  }
};

ProtocolStore::ProtocolStore(crypto::SignalContext& context, SignalStores stores,
                             IdentityChangeHandler on_identity_change)
    : context_(context), stores_(stores), on_identity_change_(std::move(on_identity_change)) {
  using C = StoreCallbacks;
  if (signal_protocol_store_context_create(&store_, context_.get()) != SG_SUCCESS)
    throw crypto::CryptoError("signal_protocol_store_context_create failed");
  // Designated initializers: a field misnamed or out of order does not compile. No destroy_func:
  // the stores are ours, not libsignal's.
  const signal_protocol_session_store ss{.load_session_func = C::load_session,
                                         .get_sub_device_sessions_func = C::sub_device_sessions,
                                         .store_session_func = C::store_session,
                                         .contains_session_func = C::contains_session,
                                         .delete_session_func = C::delete_session,
                                         .delete_all_sessions_func = C::delete_all_sessions,
                                         .destroy_func = nullptr,
                                         .user_data = this};
  const signal_protocol_pre_key_store ps{.load_pre_key = C::load_pre_key,
                                         .store_pre_key = C::store_pre_key,
                                         .contains_pre_key = C::contains_pre_key,
                                         .remove_pre_key = C::remove_pre_key,
                                         .destroy_func = nullptr,
                                         .user_data = this};
  const signal_protocol_signed_pre_key_store sps{.load_signed_pre_key = C::load_signed_pre_key,
                                                 .store_signed_pre_key = C::store_signed_pre_key,
                                                 .contains_signed_pre_key = C::contains_signed_pre_key,
                                                 .remove_signed_pre_key = C::remove_signed_pre_key,
                                                 .destroy_func = nullptr,
                                                 .user_data = this};
  const signal_protocol_identity_key_store is{.get_identity_key_pair = C::get_identity_key_pair,
                                              .get_local_registration_id = C::get_local_registration_id,
                                              .save_identity = C::save_identity,
                                              .is_trusted_identity = C::is_trusted_identity,
                                              .destroy_func = nullptr,
                                              .user_data = this};
  const signal_protocol_sender_key_store sks{.store_sender_key = C::store_sender_key,
                                             .load_sender_key = C::load_sender_key,
                                             .destroy_func = nullptr,
                                             .user_data = this};
  if (signal_protocol_store_context_set_session_store(store_, &ss) != SG_SUCCESS ||
      signal_protocol_store_context_set_pre_key_store(store_, &ps) != SG_SUCCESS ||
      signal_protocol_store_context_set_signed_pre_key_store(store_, &sps) != SG_SUCCESS ||
      signal_protocol_store_context_set_identity_key_store(store_, &is) != SG_SUCCESS ||
      signal_protocol_store_context_set_sender_key_store(store_, &sks) != SG_SUCCESS) {
    signal_protocol_store_context_destroy(store_);
    throw crypto::CryptoError("signal store context setup failed");
  }
}

ProtocolStore::~ProtocolStore() {
  signal_protocol_store_context_destroy(store_);
}

void ProtocolStore::stash_current_exception() {
  // The first failure is the cause; later ones are usually its consequences.
  if (!pending_) pending_ = std::current_exception();
}

void ProtocolStore::throw_malformed(int rc, std::string_view what) {
  static_assert(kOutOfMemory == SG_ERR_NOMEM);
  throw SignalError(std::string(what) + ": malformed input (libsignal error " + std::to_string(rc) + ")", rc,
                    SignalErrorKind::invalid_message);
}

void ProtocolStore::begin_call() {
  pending_ = nullptr;
  changes_.clear();
}

int ProtocolStore::end_call(int rc, std::string_view what) {
  if (pending_) {
    changes_.clear();
    std::rethrow_exception(std::exchange(pending_, nullptr));
  }
  if (rc < 0) {
    changes_.clear();
    throw_signal_error(rc, what);
  }
  auto changes = std::exchange(changes_, {});
  if (on_identity_change_)
    for (const auto& c : changes) on_identity_change_(c);
  return rc;
}

LscAddress::LscAddress(const Address& a) : name_(a.name), raw_(std::make_unique<signal_protocol_address>()) {
  raw_->name = name_.data();
  raw_->name_len = name_.size();
  raw_->device_id = static_cast<int32_t>(a.device);
}
LscAddress::~LscAddress() = default;

LscSenderKeyName::LscSenderKeyName(const SenderKeyName& n)
    : group_(n.group), sender_(n.sender), raw_(std::make_unique<signal_protocol_sender_key_name>()) {
  raw_->group_id = group_.data();
  raw_->group_id_len = group_.size();
  raw_->sender = *sender_.get();
}
LscSenderKeyName::~LscSenderKeyName() = default;

}  // namespace wa::signal
