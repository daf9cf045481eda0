#include "store/signal_store.h"

#include <charconv>

#include "core/client/device_store.h"  // client::StoreFenced, the client's "stop now" signal
#include "store/errors.h"
#include "store/sealing.h"

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

// The first row's sealed column 0 opened with the row's data_key_id (column 1); nullopt: no row.
std::optional<signal::Bytes> open_first(pg::Connection& c, const pg::Result& r,
                                        const std::string& business_id, const char* column) {
  if (r.rows() == 0) return std::nullopt;
  return open_column(c, key_id_at(r, 0, 1), business_id, column, r.bytes(0, 0));
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
  pg::TenantScope tenant(conn_, fence_->business_id());
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

pg::Result PgSignalStore::exec_write(std::string_view purpose, const char* sql,
                                     const std::vector<pg::Param>& params) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  pg::Result r;
  write(purpose, [&](pg::Connection& c) { r = c.exec(purpose, sql, params); });
  return r;
}

std::optional<signal::Bytes> PgSignalStore::first_bytes(std::string_view purpose, const char* sql,
                                                        const std::vector<pg::Param>& params) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  auto r = conn_.exec(purpose, sql, params);
  if (r.rows() == 0) return std::nullopt;
  return r.bytes(0, 0);
}

void PgSignalStore::transaction(std::string_view purpose, const std::function<void(pg::Connection&)>& body) {
  pg::TenantScope tenant(conn_, fence_->business_id());
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
  pg::TenantScope tenant(conn_, fence_->business_id());
  auto r = conn_.exec("load signal session",
                      "SELECT session, data_key_id FROM wa_signal_sessions WHERE business_id = $1 AND "
                      "our_jid = $2 AND their_id = $3",
                      {fence_->business_id(), our_jid_, a.to_string()});
  return open_first(conn_, r, fence_->business_id(), sealed_column::kSession);
}

void PgSignalStore::store_session(const signal::Address& a, signal::ByteView record) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  const RowSealer seal(conn_, fence_->business_id());
  exec_write("store signal session",
             "INSERT INTO wa_signal_sessions (business_id, our_jid, their_id, session, data_key_id)"
             " VALUES ($1, $2, $3, $4, $5::integer) ON CONFLICT (business_id, our_jid, their_id)"
             " DO UPDATE SET session = excluded.session, data_key_id = excluded.data_key_id",
             {fence_->business_id(), our_jid_, a.to_string(), seal.seal(sealed_column::kSession, record),
              seal.key_id()});
}

bool PgSignalStore::contains_session(const signal::Address& a) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  auto r =
      conn_.exec("look up signal session",
                 "SELECT 1 FROM wa_signal_sessions WHERE business_id = $1 AND our_jid = $2 AND their_id = $3",
                 {fence_->business_id(), our_jid_, a.to_string()});
  return r.rows() > 0;
}

bool PgSignalStore::delete_session(const signal::Address& a) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  return exec_write("delete signal session",
                    "DELETE FROM wa_signal_sessions WHERE business_id = $1 AND our_jid = $2 AND their_id = $3"
                    " RETURNING 1",
                    {fence_->business_id(), our_jid_, a.to_string()})
             .rows() > 0;
}

// Prefix match without LIKE: names contain '_' ("…_1" for LIDs), a LIKE wildcard.
std::size_t PgSignalStore::delete_all_sessions(const std::string& name) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  return static_cast<std::size_t>(
      exec_write("delete signal sessions of a user",
                 "DELETE FROM wa_signal_sessions WHERE business_id = $1 AND our_jid = $2"
                 " AND left(their_id, length($3)) = $3 RETURNING 1",
                 {fence_->business_id(), our_jid_, address_prefix(name)})
          .rows());
}

std::vector<std::uint32_t> PgSignalStore::sub_device_sessions(const std::string& name) {
  pg::TenantScope tenant(conn_, fence_->business_id());
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
  pg::TenantScope tenant(conn_, fence_->business_id());
  if (device_) return *device_;
  auto r = conn_.exec("load device identity",
                      "SELECT identity_priv, registration_id, signed_pre_key_id, signed_pre_key_priv,"
                      " signed_pre_key_sig, data_key_id FROM wa_devices WHERE business_id = $1 AND usable",
                      {fence_->business_id()});
  if (r.rows() == 0) throw NotFound("business " + fence_->business_id() + " has no usable device");
  const auto open = [&](int col, const char* column) {
    return open_column(conn_, key_id_at(r, 0, 5), fence_->business_id(), column, r.bytes(0, col));
  };
  auto d = std::make_shared<DeviceRow>();
  d->local.identity =
      crypto::KeyPair::from_private(key32(open(0, sealed_column::kIdentityPriv), "identity key"));
  d->local.registration_id = static_cast<std::uint32_t>(r.i64(0, 1));
  d->signed_pre_key.id = static_cast<std::uint32_t>(r.i64(0, 2));
  d->signed_pre_key.pair =
      crypto::KeyPair::from_private(key32(open(3, sealed_column::kSignedPreKeyPriv), "signed pre-key"));
  d->signed_pre_key.signature = r.bytes(0, 4);
  device_ = std::move(d);
  return *device_;
}

signal::LocalIdentity PgSignalStore::local_identity() {
  pg::TenantScope tenant(conn_, fence_->business_id());
  return device().local;
}

std::optional<signal::Key32> PgSignalStore::load_identity(const signal::Address& a) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  auto cell = first_bytes("load contact identity",
                          "SELECT identity FROM wa_signal_identities WHERE business_id = $1 AND our_jid = $2"
                          " AND their_id = $3",
                          {fence_->business_id(), our_jid_, a.to_string()});
  if (!cell) return std::nullopt;
  return key32(*cell, "contact identity");
}

void PgSignalStore::save_identity(const signal::Address& a, const signal::Key32& key) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  exec_write(
      "save contact identity",
      "INSERT INTO wa_signal_identities (business_id, our_jid, their_id, identity) VALUES ($1, $2, $3, $4)"
      " ON CONFLICT (business_id, our_jid, their_id) DO UPDATE SET identity = excluded.identity",
      {fence_->business_id(), our_jid_, a.to_string(), bytes(key)});
}

void PgSignalStore::delete_identity(const signal::Address& a) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  exec_write("delete contact identity",
             "DELETE FROM wa_signal_identities WHERE business_id = $1 AND our_jid = $2 AND their_id = $3",
             {fence_->business_id(), our_jid_, a.to_string()});
}

// --- pre-keys ---

std::optional<signal::KeyPair> PgSignalStore::load_pre_key(std::uint32_t id) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  auto cell = open_first(
      conn_,
      conn_.exec("load pre-key",
                 "SELECT priv, data_key_id FROM wa_device_pre_keys WHERE business_id = $1 AND key_id = $2",
                 {fence_->business_id(), static_cast<std::int64_t>(id)}),
      fence_->business_id(), sealed_column::kPreKeyPriv);
  if (!cell) return std::nullopt;
  return crypto::KeyPair::from_private(key32(*cell, "pre-key"));
}

void PgSignalStore::remove_pre_key(std::uint32_t id) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  exec_write("remove used pre-key", "DELETE FROM wa_device_pre_keys WHERE business_id = $1 AND key_id = $2",
             {fence_->business_id(), static_cast<std::int64_t>(id)});
}

std::optional<signal::SignedPreKeyPair> PgSignalStore::load_signed_pre_key(std::uint32_t id) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  const auto& d = device();
  if (d.signed_pre_key.id != id) return std::nullopt;
  return d.signed_pre_key;
}

// --- sender keys ---

std::optional<signal::Bytes> PgSignalStore::load_sender_key(const signal::SenderKeyName& n) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  auto r = conn_.exec(
      "load sender key",
      "SELECT sender_key, data_key_id FROM wa_signal_sender_keys WHERE business_id = $1 AND our_jid = $2"
      " AND chat_id = $3 AND sender_id = $4",
      {fence_->business_id(), our_jid_, n.group, n.sender.to_string()});
  return open_first(conn_, r, fence_->business_id(), sealed_column::kSenderKey);
}

void PgSignalStore::store_sender_key(const signal::SenderKeyName& n, signal::ByteView record) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  const RowSealer seal(conn_, fence_->business_id());
  exec_write(
      "store sender key",
      "INSERT INTO wa_signal_sender_keys (business_id, our_jid, chat_id, sender_id, sender_key, data_key_id)"
      " VALUES ($1, $2, $3, $4, $5, $6::integer) ON CONFLICT (business_id, our_jid, chat_id, sender_id)"
      " DO UPDATE SET sender_key = excluded.sender_key, data_key_id = excluded.data_key_id",
      {fence_->business_id(), our_jid_, n.group, n.sender.to_string(),
       seal.seal(sealed_column::kSenderKey, record), seal.key_id()});
}

// --- who holds our sender key ---

std::vector<std::string> PgSignalStore::sender_key_devices(const std::string& chat) {
  pg::TenantScope tenant(conn_, fence_->business_id());
  auto r = conn_.exec("load sender key recipients",
                      "SELECT device FROM wa_sender_key_recipients WHERE business_id = $1 AND our_jid = $2"
                      " AND chat_id = $3 ORDER BY device",
                      {fence_->business_id(), our_jid_, chat});
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.emplace_back(r.text(i, 0));
  return out;
}

void PgSignalStore::add_sender_key_devices(const std::string& chat, const std::vector<std::string>& devices) {
  if (devices.empty()) return;
  exec_write("store sender key recipients",
             "INSERT INTO wa_sender_key_recipients (business_id, our_jid, chat_id, device)"
             " SELECT $1, $2, $3, d FROM unnest($4::text[]) d ON CONFLICT DO NOTHING",
             {fence_->business_id(), our_jid_, chat, pg::Param::array(devices)});
}

}  // namespace wa::store
