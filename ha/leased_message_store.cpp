#include "ha/leased_message_store.h"

#include <mutex>

#include <fmt/format.h>

#include "core/client/device_store.h"  // client::StoreFenced
#include "ha/store_session.h"
#include "store/errors.h"
#include "store/inbox.h"
#include "store/lid_map.h"
#include "store/outbox.h"
#include "store/pg.h"
#include "store/signal_store.h"

namespace wa::ha {

using client::StoreFenced;

namespace {

client::OutboxStatus outbox_status(const std::string& s) {
  using client::OutboxStatus;
  if (s == "sent") return OutboxStatus::sent;
  if (s == "delivered") return OutboxStatus::delivered;
  if (s == "read") return OutboxStatus::read;
  if (s == "failed") return OutboxStatus::failed;
  return OutboxStatus::queued;
}

client::OutboxItem outbox_item(const store::OutboxMessage& m) {
  client::OutboxItem o;
  o.id = m.id;
  o.recipient = m.recipient;
  o.text = m.text;
  o.status = outbox_status(m.status);
  o.error = m.error;
  o.attempts = m.attempts;
  o.created_at_ms = m.created_at_ms;
  if (m.reply_to)
    o.reply_to = client::Quote{*m.reply_to, m.reply_to_sender.value_or(""), m.reply_to_text.value_or("")};
  return o;
}

// The store's fencing error as the client's "stop now" signal.
template <class F>
auto fenced(F&& f) {
  try {
    return f();
  } catch (const store::EpochMoved& e) {
    throw StoreFenced(e.what());
  }
}

}  // namespace

struct LeasedMessageStore::Session {
  Session(std::shared_ptr<store::ConnectionPool> p, std::string id,
          std::shared_ptr<const store::WriteFence> f)
      : pool(std::move(p)), business_id(std::move(id)), fence(std::move(f)) {}

  // Recursive: transaction() holds it while the body calls the other methods.
  std::recursive_mutex mu;
  std::shared_ptr<store::ConnectionPool> pool;
  std::string business_id;
  std::shared_ptr<const store::WriteFence> fence;
  pg::Connection conn;  // lent by the pool while a call (or a whole transaction()) runs
  int depth = 0;        // nested run()s: the outermost one borrows and gives back
  std::unique_ptr<store::PgSignalStore> signal;  // uses `conn`
  bool in_tx = false;

  // The Signal store of the paired device; created on first use (the device JID keys the state,
  // and an account may pair while its client runs). Inside run().
  store::PgSignalStore& sig() {
    if (!signal) {
      pg::TenantScope tenant(conn, business_id);
      auto r = conn.exec(fmt::format("load the device JID of business {}", business_id),
                         "SELECT jid FROM wa_devices WHERE business_id = $1 AND usable AND jid IS NOT NULL",
                         {business_id});
      if (r.rows() == 0) throw store::NotFound(fmt::format("business {} has no paired device", business_id));
      signal = std::make_unique<store::PgSignalStore>(conn, fence, std::string(r.text(0, 0)));
    }
    return *signal;
  }

  // Runs f() under the lock on a connection lent by the pod's store pool: the outermost call
  // borrows it and gives it back when it ends, so a transaction() and everything its body calls
  // run on one connection and the account holds none between calls. A lost connection is dropped
  // by the pool; the next call gets another.
  template <class F>
  auto run(F&& f) {
    std::lock_guard lk(mu);
    if (depth == 0) pool->lend(conn);
    ++depth;
    struct Leave {
      Session& s;
      ~Leave() {
        if (--s.depth == 0) s.pool->give_back(s.conn);
      }
    } leave{*this};
    return fenced(std::forward<F>(f));
  }
};

// The Signal roles over PgSignalStore, with the lease gate before every write.
class LeasedMessageStore::GatedSignal final : public signal::SessionStore,
                                              public signal::IdentityStore,
                                              public signal::PreKeyStore,
                                              public signal::SignedPreKeyStore,
                                              public signal::SenderKeyStore {
 public:
  explicit GatedSignal(LeasedMessageStore& owner) : o_(owner) {}

  template <class F>
  auto read(F&& f) {
    auto& s = *o_.session_;
    return s.run([&] { return f(s.sig()); });
  }
  template <class F>
  auto write(std::string_view purpose, F&& f) {
    o_.gate_.check(purpose);
    return read(std::forward<F>(f));
  }

  std::optional<signal::Bytes> load_session(const signal::Address& a) override {
    return read([&](store::PgSignalStore& s) { return s.load_session(a); });
  }
  void store_session(const signal::Address& a, signal::ByteView record) override {
    write("store signal session", [&](store::PgSignalStore& s) { s.store_session(a, record); });
  }
  bool contains_session(const signal::Address& a) override {
    return read([&](store::PgSignalStore& s) { return s.contains_session(a); });
  }
  bool delete_session(const signal::Address& a) override {
    return write("delete signal session", [&](store::PgSignalStore& s) { return s.delete_session(a); });
  }
  std::size_t delete_all_sessions(const std::string& name) override {
    return write("delete signal sessions",
                 [&](store::PgSignalStore& s) { return s.delete_all_sessions(name); });
  }
  std::vector<std::uint32_t> sub_device_sessions(const std::string& name) override {
    return read([&](store::PgSignalStore& s) { return s.sub_device_sessions(name); });
  }
  signal::LocalIdentity local_identity() override {
    return read([](store::PgSignalStore& s) { return s.local_identity(); });
  }
  std::optional<signal::Key32> load_identity(const signal::Address& a) override {
    return read([&](store::PgSignalStore& s) { return s.load_identity(a); });
  }
  void save_identity(const signal::Address& a, const signal::Key32& key) override {
    write("save contact identity", [&](store::PgSignalStore& s) { s.save_identity(a, key); });
  }
  void delete_identity(const signal::Address& a) override {
    write("delete contact identity", [&](store::PgSignalStore& s) { s.delete_identity(a); });
  }
  std::optional<signal::KeyPair> load_pre_key(std::uint32_t id) override {
    return read([&](store::PgSignalStore& s) { return s.load_pre_key(id); });
  }
  void remove_pre_key(std::uint32_t id) override {
    write("remove used pre-key", [&](store::PgSignalStore& s) { s.remove_pre_key(id); });
  }
  std::optional<signal::SignedPreKeyPair> load_signed_pre_key(std::uint32_t id) override {
    return read([&](store::PgSignalStore& s) { return s.load_signed_pre_key(id); });
  }
  std::optional<signal::Bytes> load_sender_key(const signal::SenderKeyName& n) override {
    return read([&](store::PgSignalStore& s) { return s.load_sender_key(n); });
  }
  void store_sender_key(const signal::SenderKeyName& n, signal::ByteView record) override {
    write("store sender key", [&](store::PgSignalStore& s) { s.store_sender_key(n, record); });
  }

 private:
  LeasedMessageStore& o_;
};

LeasedMessageStore::LeasedMessageStore(LeasedMessageStoreOptions options, std::string business_id,
                                       std::shared_ptr<store::WriteFence> fence)
    : opt_(std::move(options)),
      gate_(std::move(business_id), std::move(fence), opt_.lease_fresh),
      session_(std::make_unique<Session>(
          pool_or_own({opt_.database_url, opt_.pod, 5000, 2000, 5000, opt_.pool}, "messages"),
          gate_.business_id(), gate_.fence())),
      signal_(std::make_unique<GatedSignal>(*this)) {}

LeasedMessageStore::~LeasedMessageStore() = default;

signal::SignalStores LeasedMessageStore::signal_stores() {
  return {*signal_, *signal_, *signal_, *signal_, *signal_};
}

void LeasedMessageStore::transaction(std::string_view purpose, const std::function<void()>& body) {
  gate_.check(purpose);
  auto& s = *session_;
  s.run([&] {
    auto& sig = s.sig();
    struct InTx {
      bool& f;
      explicit InTx(bool& b) : f(b) { f = true; }
      ~InTx() { f = false; }
    };
    sig.transaction(purpose, [&](pg::Connection&) {
      InTx flag(s.in_tx);
      body();
    });
  });
}

bool LeasedMessageStore::inbox_contains(const crypto::Bytes& hash) {
  return session_->run(
      [&] { return store::find_inbox_by_hash(session_->conn, gate_.business_id(), hash).has_value(); });
}

bool LeasedMessageStore::inbox_put(const client::InboxEntry& e) {
  gate_.check("store inbox message");
  store::InboxMessage m;
  m.id = e.id;
  m.chat = e.chat;
  m.sender = e.sender;
  m.message_type = e.message_type;
  m.text = e.text;
  m.server_ts = e.server_ts;
  m.ciphertext_hash = e.ciphertext_hash;
  auto& s = *session_;
  return s.run([&] {
    if (s.in_tx) return store::insert_inbox(s.conn, gate_.business_id(), m).has_value();
    std::optional<std::int64_t> seq;
    gate_.fence()->write(s.conn, "store inbox message",
                         [&](pg::Connection& tx) { seq = store::insert_inbox(tx, gate_.business_id(), m); });
    return seq.has_value();
  });
}

std::vector<client::OutboxItem> LeasedMessageStore::claim_outbox(std::size_t limit) {
  gate_.check("claim outbox");
  return session_->run([&] {
    std::vector<client::OutboxItem> out;
    for (const auto& m : store::claim_outbox(session_->conn, *gate_.fence(), static_cast<int>(limit)))
      out.push_back(outbox_item(m));
    return out;
  });
}

void LeasedMessageStore::release_outbox(const std::string& id) {
  gate_.check("release outbox row");
  session_->run([&] { store::release_outbox(session_->conn, *gate_.fence(), id); });
}

bool LeasedMessageStore::mark_outbox(const std::string& id, client::OutboxStatus status,
                                     const std::optional<std::string>& error) {
  gate_.check("advance outbox row");
  return session_->run([&] {
    return store::advance_outbox(session_->conn, *gate_.fence(), id, client::to_string(status), error);
  });
}

std::optional<client::OutboxItem> LeasedMessageStore::find_outbox(const std::string& id) {
  return session_->run([&]() -> std::optional<client::OutboxItem> {
    auto m = store::find_outbox(session_->conn, gate_.business_id(), id);
    if (!m) return std::nullopt;
    return outbox_item(*m);
  });
}

void LeasedMessageStore::put_lid_mapping(const std::string& lid_user, const std::string& pn_user) {
  gate_.check("store LID mapping");
  auto& s = *session_;
  s.run([&] {
    if (s.in_tx) return store::put_lid_mapping(s.conn, gate_.business_id(), lid_user, pn_user);
    gate_.fence()->write(s.conn, "store LID mapping", [&](pg::Connection& tx) {
      store::put_lid_mapping(tx, gate_.business_id(), lid_user, pn_user);
    });
  });
}

std::optional<std::string> LeasedMessageStore::lid_for_pn(const std::string& pn_user) {
  return session_->run([&] { return store::lid_for_pn(session_->conn, gate_.business_id(), pn_user); });
}

std::optional<std::string> LeasedMessageStore::pn_for_lid(const std::string& lid_user) {
  return session_->run([&] { return store::pn_for_lid(session_->conn, gate_.business_id(), lid_user); });
}

std::vector<std::string> LeasedMessageStore::sender_key_devices(const std::string& group) {
  auto& s = *session_;
  return s.run([&] { return s.sig().sender_key_devices(group); });
}

void LeasedMessageStore::add_sender_key_devices(const std::string& group,
                                                const std::vector<std::string>& devices) {
  gate_.check("store sender key recipients");
  auto& s = *session_;
  s.run([&] { s.sig().add_sender_key_devices(group, devices); });
}

}  // namespace wa::ha
