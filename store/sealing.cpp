#include "store/sealing.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/log.h"
#include "core/crypto/aes.h"
#include "core/crypto/base64.h"
#include "core/crypto/crypto_error.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"
#include "store/accounts.h"

namespace wa::store {
namespace {

constexpr std::uint8_t kSealVersion = 1;
constexpr std::size_t kWrappedSize = crypto::kGcmNonceSize + 32 + crypto::kGcmTagSize;
// Same two-int key space as the migration lock (0x57414331, 1): never an account lock.
constexpr std::int64_t kLockClass = 0x57414331;
constexpr std::int64_t kDataKeyLock = 2;

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

void append_be32(crypto::Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

crypto::Bytes wrap_aad(std::int32_t id) {
  crypto::Bytes aad = crypto::to_bytes(std::string_view("waconnector data key v1"));
  aad.push_back(0);
  append_be32(aad, static_cast<std::uint32_t>(id));
  return aad;
}

// The associated data of a sealed column: what it is, whose it is, and under which data key.
crypto::Bytes column_aad(std::int32_t key_id, std::string_view business_id, std::string_view column) {
  crypto::Bytes aad = crypto::to_bytes(std::string_view("waconnector sealed column v1"));
  aad.push_back(0);
  aad.insert(aad.end(), column.begin(), column.end());
  aad.push_back(0);
  aad.insert(aad.end(), business_id.begin(), business_id.end());
  aad.push_back(0);
  append_be32(aad, static_cast<std::uint32_t>(key_id));
  return aad;
}

crypto::Bytes wrap(const crypto::Key32& kek, std::int32_t id, const crypto::Key32& data_key) {
  crypto::Bytes out = crypto::random_bytes(crypto::kGcmNonceSize);
  const auto ct = crypto::aes256_gcm_seal(kek, out, wrap_aad(id), data_key);
  out.insert(out.end(), ct.begin(), ct.end());
  return out;
}

std::optional<crypto::Key32> try_unwrap(const crypto::Key32& kek, std::int32_t id,
                                        const crypto::Bytes& wrapped) {
  if (wrapped.size() != kWrappedSize) return std::nullopt;
  const crypto::ByteView w(wrapped);
  try {
    const auto plain = crypto::aes256_gcm_open(kek, w.first(crypto::kGcmNonceSize), wrap_aad(id),
                                               w.subspan(crypto::kGcmNonceSize));
    return crypto::key32_from(plain, "data key");
  } catch (const crypto::CryptoError&) {
    return std::nullopt;
  }
}

std::string kek_list(const KekRing& keks) {
  std::string out;
  for (const auto& k : keks.keys()) out += (out.empty() ? "" : ", ") + k.id;
  return out;
}

bool idle(const pg::Connection& c) {
  return c.raw() != nullptr && PQtransactionStatus(c.raw()) == PQTRANS_IDLE;
}

std::mutex g_installed_mu;
std::shared_ptr<Sealer> g_installed;

}  // namespace

// --- KekRing ---

std::string KekRing::fingerprint(const crypto::Key32& kek) {
  const auto d = crypto::sha256(crypto::view("waconnector kek id v1"), kek);
  return crypto::to_hex(crypto::ByteView(d).first(8));
}

KekRing KekRing::parse(std::string_view text, const std::string& origin) {
  KekRing ring;
  ring.origin_ = origin;
  std::istringstream in{std::string(text)};
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    const auto line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    std::optional<crypto::Key32> key;
    if (line.size() == 64 && line.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos) {
      key = crypto::key32_from_hex(line, "KEK");
    } else if (auto b = crypto::base64_decode(line); b && b->size() == 32) {
      key = crypto::key32_from(*b, "KEK");
    }
    // Never the line itself in the message: it may be a key with one character wrong.
    if (!key)
      throw SealingError(
          fmt::format("{}: line {} is not a key (64 hex digits or base64 of 32 bytes expected, "
                      "{} characters found)",
                      origin, line_no, line.size()));
    if (*key == crypto::Key32{})
      throw SealingError(fmt::format("{}: line {} is an all-zero key", origin, line_no));
    ring.keys_.push_back({fingerprint(*key), *key});
  }
  if (ring.keys_.empty())
    throw SealingError(
        fmt::format("{}: holds no key (one line of 64 hex digits, e.g. from `waconnector keys "
                    "generate`)",
                    origin));
  return ring;
}

KekRing KekRing::load_file(const std::string& path) {
  const std::string origin = fmt::format("{} {}", kKekSetting, path);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw SealingError(fmt::format("{}: cannot read the file: {}", origin, std::strerror(errno)));
  std::ostringstream buf;
  buf << f.rdbuf();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0)
    log::warn("kek_file_world_readable")
        .kv("path", path)
        .kv("hint", "chmod 600 (or defaultMode 0400 for a Secret)");
  return parse(buf.str(), origin);
}

std::string KekRing::generate_line() {
  crypto::Key32 k{};
  crypto::random_fill(k);
  return crypto::to_hex(k);
}

KekRing KekRing::load_or_create_file(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0) {
    // Write a temporary file, then link() it into place: link fails if the name exists, so two
    // processes starting together agree on one key (the loser reads the winner's).
    const std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
      throw SealingError(fmt::format("{}: cannot create the generated local KEK file {}: {}", kKekSetting,
                                     tmp, std::strerror(errno)));
    const std::string body =
        "# waconnector key-encryption key, generated for local use (docs/security.md). Back it up:\n"
        "# without it the sealed device keys in the database cannot be opened.\n" +
        generate_line() + "\n";
    const bool ok =
        ::write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size()) && ::fsync(fd) == 0;
    ::close(fd);
    const bool linked = ok && ::link(tmp.c_str(), path.c_str()) == 0;
    const int link_errno = errno;
    ::unlink(tmp.c_str());
    if (!ok || (!linked && link_errno != EEXIST))
      throw SealingError(fmt::format("{}: cannot create the generated local KEK file {}: {}", kKekSetting,
                                     path, std::strerror(link_errno)));
    if (linked)
      log::warn("kek_file_generated")
          .kv("path", path)
          .kv("hint", "back this file up; set --kek-file in production");
  }
  return load_file(path);
}

const KekRing::Kek* KekRing::find(std::string_view id) const {
  for (const auto& k : keys_)
    if (k.id == id) return &k;
  return nullptr;
}

// --- Sealer ---

Sealer::Sealer(KekRing keks, std::string database_url)
    : keks_(std::move(keks)), database_url_(std::move(database_url)) {}

crypto::Key32 Sealer::unwrap_row(std::int32_t id, const std::string& kek_id,
                                 const crypto::Bytes& wrapped) const {
  const auto* kek = keks_.find(kek_id);
  if (kek == nullptr)
    throw SealingError(fmt::format(
        "{}: data key {} is wrapped by KEK {}, which is not in the file (it holds {}): the wrong KEK file? "
        "No account starts until the right one is configured",
        keks_.origin(), id, kek_id, kek_list(keks_)));
  auto k = try_unwrap(kek->key, id, wrapped);
  if (!k)
    throw SealingError(
        fmt::format("{}: data key {} does not unwrap with KEK {} (the wa_data_keys row was altered)",
                    keks_.origin(), id, kek_id));
  return *k;
}

const crypto::Key32& Sealer::data_key(pg::Connection& c, std::int32_t id) {
  {
    std::lock_guard lk(mu_);
    if (auto it = data_keys_.find(id); it != data_keys_.end()) return it->second;
  }
  auto r = c.exec("load a data key", "SELECT kek_id, wrapped FROM wa_data_keys WHERE id = $1::integer",
                  {static_cast<std::int64_t>(id)});
  if (r.rows() == 0) throw SealingError(fmt::format("data key {} does not exist (wa_data_keys)", id));
  const auto key = unwrap_row(id, std::string(r.text(0, 0)), r.bytes(0, 1));
  std::lock_guard lk(mu_);
  return data_keys_.emplace(id, key).first->second;  // std::map: references stay valid
}

std::int32_t Sealer::create_first_key(pg::Connection& c) {
  pg::Transaction tx(c, "create the first data key");
  c.exec("take the data-key lock", "SELECT pg_advisory_xact_lock($1::int, $2::int)",
         {kLockClass, kDataKeyLock});
  auto r = c.exec("read the current data key", "SELECT max(id) FROM wa_data_keys");
  if (!r.is_null(0, 0)) return static_cast<std::int32_t>(r.i64(0, 0));
  crypto::Key32 dk{};
  crypto::random_fill(dk);
  const auto& kek = keks_.primary();
  c.exec("store the first data key", "INSERT INTO wa_data_keys (id, kek_id, wrapped) VALUES (1, $1, $2)",
         {kek.id, pg::Param::bytes(wrap(kek.key, 1, dk))});
  tx.commit();
  std::lock_guard lk(mu_);
  data_keys_.emplace(1, dk);
  log::info("data_key_created").kv("data_key_id", std::int64_t{1}).kv("kek_id", kek.id);
  return 1;
}

std::int32_t Sealer::current_key_id(pg::Connection& c) {
  {
    std::lock_guard lk(mu_);
    if (current_) return *current_;
  }
  auto r = c.exec("read the current data key", "SELECT max(id) FROM wa_data_keys");
  std::int32_t id = 0;
  if (!r.is_null(0, 0)) {
    id = static_cast<std::int32_t>(r.i64(0, 0));
  } else if (idle(c)) {
    id = create_first_key(c);
  } else if (!database_url_.empty()) {
    // Not inside the caller's transaction: its rollback would take the key along while we cache it.
    auto own = pg::Connection::open(database_url_, "create the first data key");
    id = create_first_key(own);
  } else {
    throw SealingError(
        "there is no data key yet (wa_data_keys is empty); `waconnector run` creates it at start");
  }
  data_key(c, id);  // unwrap now: a wrong KEK fails here, before anything is sealed under it
  std::lock_guard lk(mu_);
  current_ = id;
  return id;
}

std::size_t Sealer::verify(pg::Connection& c) {
  current_key_id(c);
  auto r = c.exec("list the data keys", "SELECT id FROM wa_data_keys ORDER BY id");
  for (int i = 0; i < r.rows(); ++i) data_key(c, static_cast<std::int32_t>(r.i64(i, 0)));
  auto s = c.exec("read the key-material mode",
                  "SELECT key FROM wa_settings WHERE key IN ('key_material', 'webhook_secrets') AND value = 'sealed'");
  std::lock_guard lk(mu_);
  plain_allowed_ = true;
  plain_webhook_secrets_allowed_ = true;
  for (int i = 0; i < s.rows(); ++i) (s.text(i, 0) == "key_material" ? plain_allowed_ : plain_webhook_secrets_allowed_) = false;
  return static_cast<std::size_t>(r.rows());
}

bool Sealer::plain_rows_allowed(std::string_view column) const {
  std::lock_guard lk(mu_);
  return column.rfind("wa_webhooks.", 0) == 0 ? plain_webhook_secrets_allowed_ : plain_allowed_;
}

crypto::Bytes Sealer::seal(pg::Connection& c, std::int32_t key_id, std::string_view business_id,
                           std::string_view column, crypto::ByteView plain) {
  const auto& dk = data_key(c, key_id);
  crypto::Bytes out{kSealVersion};
  const auto nonce = crypto::random_bytes(crypto::kGcmNonceSize);
  out.insert(out.end(), nonce.begin(), nonce.end());
  const auto ct = crypto::aes256_gcm_seal(dk, nonce, column_aad(key_id, business_id, column), plain);
  out.insert(out.end(), ct.begin(), ct.end());
  return out;
}

crypto::Bytes Sealer::open(pg::Connection& c, std::int32_t key_id, std::string_view business_id,
                           std::string_view column, crypto::ByteView sealed) {
  const auto& dk = data_key(c, key_id);
  if (sealed.size() < 1 + crypto::kGcmNonceSize + crypto::kGcmTagSize || sealed[0] != kSealVersion)
    throw SealingError(
        fmt::format("{} of business {}: not a sealed value (data key {})", column, business_id, key_id));
  try {
    return crypto::aes256_gcm_open(dk, sealed.subspan(1, crypto::kGcmNonceSize),
                                   column_aad(key_id, business_id, column),
                                   sealed.subspan(1 + crypto::kGcmNonceSize));
  } catch (const crypto::CryptoError&) {
    throw SealingError(
        fmt::format("{} of business {} does not authenticate under data key {}: the row was altered "
                    "or copied from another account or column",
                    column, business_id, key_id));
  }
}

void install_sealer(std::shared_ptr<Sealer> sealer) {
  std::lock_guard lk(g_installed_mu);
  g_installed = std::move(sealer);
}

std::shared_ptr<Sealer> installed_sealer() {
  std::lock_guard lk(g_installed_mu);
  return g_installed;
}

// --- what the stores call ---

RowSealer::RowSealer(pg::Connection& c, std::string_view business_id)
    : c_(c), business_id_(business_id), sealer_(installed_sealer()) {
  if (sealer_) key_id_ = sealer_->current_key_id(c_);
}

pg::Param RowSealer::key_id() const {
  if (!key_id_) return pg::Param();
  return pg::Param(static_cast<std::int64_t>(*key_id_));
}

crypto::Bytes RowSealer::seal_bytes(std::string_view column, crypto::ByteView plain) const {
  if (!sealer_) return crypto::to_bytes(plain);
  return sealer_->seal(c_, *key_id_, business_id_, column, plain);
}

pg::Param RowSealer::seal(std::string_view column, crypto::ByteView plain) const {
  return pg::Param::bytes(seal_bytes(column, plain));
}

crypto::Bytes open_column(pg::Connection& c, std::optional<std::int32_t> key_id, std::string_view business_id,
                          std::string_view column, crypto::ByteView stored) {
  auto sealer = installed_sealer();
  if (!key_id) {
    if (sealer && !sealer->plain_rows_allowed(column))
      throw SealingError(
          fmt::format("{} of business {} is stored in plain although every row was sealed "
                      "(`waconnector keys seal`): refused",
                      column, business_id));
    return crypto::to_bytes(stored);
  }
  if (!sealer)
    throw SealingError(
        fmt::format("{} of business {} is sealed (data key {}) and no key-encryption key is "
                    "configured: set {}",
                    column, business_id, *key_id, kKekSetting));
  return sealer->open(c, *key_id, business_id, column, stored);
}

std::optional<std::int32_t> key_id_at(const pg::Result& r, int row, int col) {
  if (r.is_null(row, col)) return std::nullopt;
  return static_cast<std::int32_t>(r.i64(row, col));
}

// --- keys rotate / seal / status ---

std::size_t rewrap_data_keys(pg::Connection& c, const KekRing& keks) {
  const auto& target = keks.primary();
  auto r = c.exec("list the data keys to re-wrap",
                  "SELECT id, kek_id, wrapped FROM wa_data_keys WHERE kek_id <> $1 ORDER BY id", {target.id});
  std::size_t done = 0;
  for (int i = 0; i < r.rows(); ++i) {
    const auto id = static_cast<std::int32_t>(r.i64(i, 0));
    const std::string kek_id(r.text(i, 1));
    const auto wrapped = r.bytes(i, 2);
    const auto* old = keks.find(kek_id);
    if (old == nullptr)
      throw SealingError(
          fmt::format("{}: data key {} is wrapped by KEK {}, which is not in the file (it holds {}): "
                      "list the current KEK after the new one",
                      keks.origin(), id, kek_id, kek_list(keks)));
    const auto dk = try_unwrap(old->key, id, wrapped);
    if (!dk)
      throw SealingError(
          fmt::format("{}: data key {} does not unwrap with KEK {}", keks.origin(), id, kek_id));
    // Compare-and-swap: another rotation that got there first leaves nothing to do.
    auto u = c.exec("re-wrap a data key",
                    "UPDATE wa_data_keys SET kek_id = $2, wrapped = $3, rewrapped_at = now()"
                    " WHERE id = $1::integer AND kek_id = $4 AND wrapped = $5 RETURNING 1",
                    {static_cast<std::int64_t>(id), target.id, pg::Param::bytes(wrap(target.key, id, *dk)),
                     kek_id, pg::Param::bytes(wrapped)});
    if (u.rows() > 0) {
      ++done;
      log::info("data_key_rewrapped")
          .kv("data_key_id", static_cast<std::int64_t>(id))
          .kv("from_kek", kek_id)
          .kv("to_kek", target.id);
    }
  }
  return done;
}

std::int32_t add_data_key(pg::Connection& c, const KekRing& keks) {
  pg::Transaction tx(c, "add a data key");
  c.exec("take the data-key lock", "SELECT pg_advisory_xact_lock($1::int, $2::int)",
         {kLockClass, kDataKeyLock});
  auto r = c.exec("next data key id", "SELECT coalesce(max(id), 0) + 1 FROM wa_data_keys");
  const auto id = static_cast<std::int32_t>(r.i64(0, 0));
  crypto::Key32 dk{};
  crypto::random_fill(dk);
  c.exec(
      "store a data key", "INSERT INTO wa_data_keys (id, kek_id, wrapped) VALUES ($1::integer, $2, $3)",
      {static_cast<std::int64_t>(id), keks.primary().id, pg::Param::bytes(wrap(keks.primary().key, id, dk))});
  tx.commit();
  log::info("data_key_created")
      .kv("data_key_id", static_cast<std::int64_t>(id))
      .kv("kek_id", keks.primary().id);
  return id;
}

namespace {

// One table's plain rows: `pk` columns identify a row, `cols` are sealed.
struct PlainTable {
  const char* table;
  std::vector<const char*> pk;
  std::vector<const char*> cols;  // column names; the AAD names are "table.column"
};

std::size_t seal_table(pg::Connection& c, Sealer& sealer, const PlainTable& t) {
  std::string select = "SELECT business_id";
  for (const auto* p : t.pk) select += fmt::format(", {}", p);
  for (const auto* col : t.cols) select += fmt::format(", {}", col);
  select += fmt::format(" FROM {} WHERE data_key_id IS NULL LIMIT 500", t.table);
  std::string update = fmt::format("UPDATE {} SET data_key_id = $1::integer", t.table);
  int n = 2;
  for (const auto* col : t.cols) update += fmt::format(", {} = ${}", col, n++);
  update += fmt::format(" WHERE data_key_id IS NULL AND business_id = ${}", n++);
  for (const auto* p : t.pk) update += fmt::format(" AND {}::text = ${}", p, n++);
  for (const auto* col : t.cols) update += fmt::format(" AND {} = ${}", col, n++);
  update += " RETURNING 1";

  const auto key_id = sealer.current_key_id(c);
  std::size_t sealed = 0;
  for (;;) {
    auto r = c.exec(fmt::format("list plain rows of {}", t.table), select.c_str());
    std::size_t progress = 0;
    for (int i = 0; i < r.rows(); ++i) {
      const std::string business_id(r.text(i, 0));
      std::vector<pg::Param> params{static_cast<std::int64_t>(key_id)};
      const int first_col = 1 + static_cast<int>(t.pk.size());
      for (std::size_t k = 0; k < t.cols.size(); ++k) {
        const auto plain = r.bytes(i, first_col + static_cast<int>(k));
        params.push_back(pg::Param::bytes(
            sealer.seal(c, key_id, business_id, fmt::format("{}.{}", t.table, t.cols[k]), plain)));
      }
      params.emplace_back(business_id);
      for (std::size_t k = 0; k < t.pk.size(); ++k)
        params.emplace_back(std::string(r.text(i, 1 + static_cast<int>(k))));
      for (std::size_t k = 0; k < t.cols.size(); ++k)
        params.push_back(pg::Param::bytes(r.bytes(i, first_col + static_cast<int>(k))));
      // A row its leader rewrote meanwhile is sealed already: 0 rows here, nothing lost.
      if (c.exec(fmt::format("seal a plain row of {}", t.table), update.c_str(), params).rows() > 0) ++sealed;
      ++progress;
    }
    if (r.rows() == 0 || progress == 0) break;
  }
  return sealed;
}

// Webhook secrets (0014): plain in the TEXT columns, sealed into the BYTEA ones, the TEXT ones
// cleared; compare-and-swap on the plain values as for the key tables.
std::size_t seal_webhook_secrets(pg::Connection& c, Sealer& sealer) {
  const auto key_id = sealer.current_key_id(c);
  std::size_t sealed = 0;
  for (;;) {
    const auto before = sealed;
    auto r = c.exec("list plain webhook secrets",
                    "SELECT business_id, id, secret, previous_secret FROM wa_webhooks"
                    " WHERE data_key_id IS NULL LIMIT 500");
    for (int i = 0; i < r.rows(); ++i) {
      const std::string business_id(r.text(i, 0));
      const std::string secret(r.text(i, 2));
      const auto previous = r.opt(i, 3);
      pg::Param previous_sealed;
      if (previous)
        previous_sealed = pg::Param::bytes(
            sealer.seal(c, key_id, business_id, sealed_column::kWebhookPreviousSecret, crypto::to_bytes(*previous)));
      if (c.exec("seal a plain webhook secret",
                 "UPDATE wa_webhooks SET data_key_id = $1::integer, secret_sealed = $2, previous_secret_sealed = $3,"
                 " secret = NULL, previous_secret = NULL"
                 " WHERE data_key_id IS NULL AND business_id = $4 AND id = $5 AND secret = $6"
                 " AND previous_secret IS NOT DISTINCT FROM $7 RETURNING 1",
                 {static_cast<std::int64_t>(key_id),
                  pg::Param::bytes(
                      sealer.seal(c, key_id, business_id, sealed_column::kWebhookSecret, crypto::to_bytes(secret))),
                  previous_sealed, business_id, std::string(r.text(i, 1)), secret, pg::Param(previous)})
              .rows() > 0)
        ++sealed;
    }
    // A row rewritten meanwhile (a rotation) is sealed by that write, or seen again plain next round.
    if (r.rows() < 500 || sealed == before) break;
  }
  return sealed;
}

}  // namespace

SealCounts seal_plain_rows(pg::Connection& c, Sealer& sealer) {
  pg::TenantScope tenant(c, account_ids(c));  // every account's rows
  SealCounts n;
  n.devices = seal_table(
      c, sealer, {"wa_devices", {}, {"noise_priv", "identity_priv", "signed_pre_key_priv", "adv_secret"}});
  n.pre_keys = seal_table(c, sealer, {"wa_device_pre_keys", {"key_id"}, {"priv"}});
  n.sessions = seal_table(c, sealer, {"wa_signal_sessions", {"our_jid", "their_id"}, {"session"}});
  n.sender_keys =
      seal_table(c, sealer, {"wa_signal_sender_keys", {"our_jid", "chat_id", "sender_id"}, {"sender_key"}});
  n.webhooks = seal_webhook_secrets(c, sealer);
  // Only once nothing plain is left (a plain writer still running would show up here).
  auto plain = c.exec("count plain rows",
                      "SELECT (SELECT count(*) FROM wa_devices WHERE data_key_id IS NULL)"
                      " + (SELECT count(*) FROM wa_device_pre_keys WHERE data_key_id IS NULL)"
                      " + (SELECT count(*) FROM wa_signal_sessions WHERE data_key_id IS NULL)"
                      " + (SELECT count(*) FROM wa_signal_sender_keys WHERE data_key_id IS NULL),"
                      " (SELECT count(*) FROM wa_webhooks WHERE data_key_id IS NULL)");
  for (const auto& [col, key] : {std::pair{0, "key_material"}, std::pair{1, "webhook_secrets"}})
    if (plain.i64(0, col) == 0)
      c.exec("record that key material is sealed",
             "INSERT INTO wa_settings (key, value) VALUES ($1, 'sealed')"
             " ON CONFLICT (key) DO UPDATE SET value = 'sealed', updated_at = now()",
             {std::string(key)});
  return n;
}

std::map<std::optional<std::int32_t>, std::int64_t> sealed_row_counts(pg::Connection& c) {
  pg::TenantScope tenant(c, account_ids(c));
  auto r = c.exec("count rows per data key",
                  "SELECT data_key_id, count(*) FROM ("
                  " SELECT data_key_id FROM wa_devices UNION ALL SELECT data_key_id FROM wa_device_pre_keys"
                  " UNION ALL SELECT data_key_id FROM wa_signal_sessions"
                  " UNION ALL SELECT data_key_id FROM wa_signal_sender_keys"
                  " UNION ALL SELECT data_key_id FROM wa_webhooks) k GROUP BY data_key_id");
  std::map<std::optional<std::int32_t>, std::int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out[key_id_at(r, i, 0)] = r.i64(i, 1);
  return out;
}

}  // namespace wa::store
