#include "store/signal_store.h"

#include <charconv>

#include "core/client/device_store.h"  // client::StoreFenced, the client's "stop now" signal
#include "store/errors.h"

namespace wa::store {

namespace {

signal::Key32 key32(const std::vector<std::uint8_t>& b, const char* what) {
  if (b.size() != 32) throw StoreError(std::string("stored ") + what + " is not 32 bytes");
  signal::Key32 k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

pg::Param bytes(signal::ByteView v) {
  return pg::Param::bytes(std::vector<std::uint8_t>(v.begin(), v.end()));
}

std::string address_prefix(const std::string& name) {
  return name + ":";
}

}  // namespace

struct PgSignalStore::DeviceRow {
  signal::LocalIdentity local;
  signal::SignedPreKeyPair signed_pre_key;
};

PgSignalStore::PgSignalStore(pg::Connection& conn, std::shared_ptr<const WriteFence> fence,
                             std::string our_jid)
    : conn_(conn), fence_(std::move(fence)), our_jid_(std::move(our_jid)) {
  if (!fence_) throw std::invalid_argument("PgSignalStore needs a write fence");
  if (our_jid_.empty()) throw std::invalid_argument("PgSignalStore needs the device JID");
}

void PgSignalStore::write(std::string_view purpose, const std::function<void(pg::Connection&)>& body) {
  if (in_transaction_) {
    // The enclosing transaction checked the epoch and holds the account row FOR SHARE until it ends.
    body(conn_);
    return;
  }
  try {
    fence_->write(conn_, purpose, body);
  } catch (const EpochMoved& e) {
    throw client::StoreFenced(e.what());
  }
}

void PgSignalStore::transaction(std::string_view purpose, const std::function<void(pg::Connection&)>& body) {
  if (in_transaction_) throw std::logic_error("PgSignalStore::transaction is not reentrant");
  struct Flag {
    bool& f;
    explicit Flag(bool& b) : f(b) {}
    ~Flag() { f = false; }
  };
  try {
    fence_->write(conn_, purpose, [&](pg::Connection& tx) {
      Flag reset(in_transaction_);
      in_transaction_ = true;
      body(tx);
    });
  } catch (const EpochMoved& e) {
    throw client::StoreFenced(e.what());
  }
}

// --- sessions ---

std::optional<signal::Bytes> PgSignalStore::load_session(const signal::Address& a) {
  auto r = conn_.exec(
      "load signal session",
      "SELECT session FROM wa_signal_sessions WHERE business_id = $1 AND our_jid = $2 AND their_id = $3",
      {fence_->business_id(), our_jid_, a.to_string()});
  if (r.rows() == 0) return std::nullopt;
  return r.bytes(0, 0);
}

void PgSignalStore::store_session(const signal::Address& a, signal::ByteView record) {
  write("store signal session", [&](pg::Connection& c) {
    c.exec("store signal session",
           "INSERT INTO wa_signal_sessions (business_id, our_jid, their_id, session) VALUES ($1, $2, $3, $4)"
           " ON CONFLICT (business_id, our_jid, their_id) DO UPDATE SET session = excluded.session",
           {fence_->business_id(), our_jid_, a.to_string(), bytes(record)});
  });
}

bool PgSignalStore::contains_session(const signal::Address& a) {
  auto r =
      conn_.exec("look up signal session",
                 "SELECT 1 FROM wa_signal_sessions WHERE business_id = $1 AND our_jid = $2 AND their_id = $3",
                 {fence_->business_id(), our_jid_, a.to_string()});
  return r.rows() > 0;
}

bool PgSignalStore::delete_session(const signal::Address& a) {
  bool deleted = false;
  write("delete signal session", [&](pg::Connection& c) {
    auto r = c.exec("delete signal session",
                    "DELETE FROM wa_signal_sessions WHERE business_id = $1 AND our_jid = $2 AND their_id = $3"
                    " RETURNING 1",
                    {fence_->business_id(), our_jid_, a.to_string()});
    deleted = r.rows() > 0;
  });
  return deleted;
}

// Prefix match without LIKE: names contain '_' ("…_1" for LIDs), a LIKE wildcard.
std::size_t PgSignalStore::delete_all_sessions(const std::string& name) {
  std::size_t n = 0;
  write("delete signal sessions of a user", [&](pg::Connection& c) {
    auto r = c.exec("delete signal sessions of a user",
                    "DELETE FROM wa_signal_sessions WHERE business_id = $1 AND our_jid = $2"
                    " AND left(their_id, length($3)) = $3 RETURNING 1",
                    {fence_->business_id(), our_jid_, address_prefix(name)});
    n = static_cast<std::size_t>(r.rows());
  });
  return n;
}

std::vector<std::uint32_t> PgSignalStore::sub_device_sessions(const std::string& name) {
  auto prefix = address_prefix(name);
  auto r = conn_.exec("list signal sessions of a user",
                      "SELECT their_id FROM wa_signal_sessions WHERE business_id = $1 AND our_jid = $2"
                      " AND left(their_id, length($3)) = $3 ORDER BY their_id",
                      {fence_->business_id(), our_jid_, prefix});
  std::vector<std::uint32_t> out;
  for (int i = 0; i < r.rows(); ++i) {
    auto id = r.text(i, 0).substr(prefix.size());
    std::uint32_t device = 0;
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), device);
    if (ec != std::errc() || p != id.data() + id.size()) continue;  // "name:x:y" belongs to another name
    if (device != 1) out.push_back(device);
  }
  return out;
}

// --- identities ---

const PgSignalStore::DeviceRow& PgSignalStore::device() {
  if (device_) return *device_;
  auto r = conn_.exec("load device identity",
                      "SELECT identity_priv, registration_id, signed_pre_key_id, signed_pre_key_priv,"
                      " signed_pre_key_sig FROM wa_devices WHERE business_id = $1 AND usable",
                      {fence_->business_id()});
  if (r.rows() == 0) throw NotFound("business " + fence_->business_id() + " has no usable device");
  auto d = std::make_shared<DeviceRow>();
  d->local.identity = crypto::KeyPair::from_private(key32(r.bytes(0, 0), "identity key"));
  d->local.registration_id = static_cast<std::uint32_t>(r.i64(0, 1));
  d->signed_pre_key.id = static_cast<std::uint32_t>(r.i64(0, 2));
  d->signed_pre_key.pair = crypto::KeyPair::from_private(key32(r.bytes(0, 3), "signed pre-key"));
  d->signed_pre_key.signature = r.bytes(0, 4);
  device_ = std::move(d);
  return *device_;
}

signal::LocalIdentity PgSignalStore::local_identity() {
  return device().local;
}

std::optional<signal::Key32> PgSignalStore::load_identity(const signal::Address& a) {
  auto r = conn_.exec("load contact identity",
                      "SELECT identity FROM wa_signal_identities WHERE business_id = $1 AND our_jid = $2"
                      " AND their_id = $3",
                      {fence_->business_id(), our_jid_, a.to_string()});
  if (r.rows() == 0) return std::nullopt;
  return key32(r.bytes(0, 0), "contact identity");
}

void PgSignalStore::save_identity(const signal::Address& a, const signal::Key32& key) {
  write("save contact identity", [&](pg::Connection& c) {
    c.exec(
        "save contact identity",
        "INSERT INTO wa_signal_identities (business_id, our_jid, their_id, identity) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (business_id, our_jid, their_id) DO UPDATE SET identity = excluded.identity",
        {fence_->business_id(), our_jid_, a.to_string(), bytes(key)});
  });
}

void PgSignalStore::delete_identity(const signal::Address& a) {
  write("delete contact identity", [&](pg::Connection& c) {
    c.exec("delete contact identity",
           "DELETE FROM wa_signal_identities WHERE business_id = $1 AND our_jid = $2 AND their_id = $3",
           {fence_->business_id(), our_jid_, a.to_string()});
  });
}

// --- pre-keys ---

std::optional<signal::KeyPair> PgSignalStore::load_pre_key(std::uint32_t id) {
  auto r =
      conn_.exec("load pre-key", "SELECT priv FROM wa_device_pre_keys WHERE business_id = $1 AND key_id = $2",
                 {fence_->business_id(), static_cast<std::int64_t>(id)});
  if (r.rows() == 0) return std::nullopt;
  return crypto::KeyPair::from_private(key32(r.bytes(0, 0), "pre-key"));
}

void PgSignalStore::remove_pre_key(std::uint32_t id) {
  write("remove used pre-key", [&](pg::Connection& c) {
    c.exec("remove used pre-key", "DELETE FROM wa_device_pre_keys WHERE business_id = $1 AND key_id = $2",
           {fence_->business_id(), static_cast<std::int64_t>(id)});
  });
}

std::optional<signal::SignedPreKeyPair> PgSignalStore::load_signed_pre_key(std::uint32_t id) {
  const auto& d = device();
  if (d.signed_pre_key.id != id) return std::nullopt;
  return d.signed_pre_key;
}

// --- sender keys ---

std::optional<signal::Bytes> PgSignalStore::load_sender_key(const signal::SenderKeyName& n) {
  auto r = conn_.exec("load sender key",
                      "SELECT sender_key FROM wa_signal_sender_keys WHERE business_id = $1 AND our_jid = $2"
                      " AND chat_id = $3 AND sender_id = $4",
                      {fence_->business_id(), our_jid_, n.group, n.sender.to_string()});
  if (r.rows() == 0) return std::nullopt;
  return r.bytes(0, 0);
}

void PgSignalStore::store_sender_key(const signal::SenderKeyName& n, signal::ByteView record) {
  write("store sender key", [&](pg::Connection& c) {
    c.exec("store sender key",
           "INSERT INTO wa_signal_sender_keys (business_id, our_jid, chat_id, sender_id, sender_key)"
           " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (business_id, our_jid, chat_id, sender_id)"
           " DO UPDATE SET sender_key = excluded.sender_key",
           {fence_->business_id(), our_jid_, n.group, n.sender.to_string(), bytes(record)});
  });
}

}  // namespace wa::store
