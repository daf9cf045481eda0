// Envelope encryption of key material at rest (issue 13; docs/security.md).
//
// Every private key, Signal session record and sender key is sealed with AES-256-GCM under a
// DATA KEY before it reaches PostgreSQL. Data keys (wa_data_keys, migration 0010) are random
// 32-byte keys stored only wrapped (AES-256-GCM) by a KEY-ENCRYPTION KEY (KEK) that never
// touches the database: it comes from a file (`--kek-file` / WACONN_KEK_FILE, a Kubernetes
// Secret). Each sealed row records the id of its data key (`data_key_id`), and the business id
// and the column name are bound as associated data, so a row copied to another account (or into
// another column) does not open.
//
// Rotation re-wraps the data keys under a new KEK (`rewrap_data_keys`): the data keys themselves
// do not change, so no sealed row is rewritten and leaders keep writing while it runs.
//
// Plain rows written before 0010 (data_key_id NULL) are read as they are and sealed by their next
// write, or all at once by `seal_plain_rows` (`waconnector keys seal`), which then records that the
// store holds sealed rows only: from then on a plain row is refused (nobody can slip a key of
// their own into the table).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto/bytes.h"
#include "store/errors.h"
#include "store/pg.h"

namespace wa::store {

// Key material that cannot be sealed or opened: no KEK configured for a sealed row, a data key
// wrapped by a KEK the file does not hold, a row that does not authenticate (tampered, or copied
// from another account or column). what() names the setting to fix where one is to blame.
class SealingError : public StoreError {
 public:
  using StoreError::StoreError;
};

// The sealed columns, as bound into each value's associated data (table.column).
namespace sealed_column {
inline constexpr const char* kNoisePriv = "wa_devices.noise_priv";
inline constexpr const char* kIdentityPriv = "wa_devices.identity_priv";
inline constexpr const char* kSignedPreKeyPriv = "wa_devices.signed_pre_key_priv";
inline constexpr const char* kAdvSecret = "wa_devices.adv_secret";
inline constexpr const char* kPreKeyPriv = "wa_device_pre_keys.priv";
inline constexpr const char* kSession = "wa_signal_sessions.session";
inline constexpr const char* kSenderKey = "wa_signal_sender_keys.sender_key";
inline constexpr const char* kWebhookSecret = "wa_webhooks.secret";
inline constexpr const char* kWebhookPreviousSecret = "wa_webhooks.previous_secret";
}  // namespace sealed_column

// The setting every KEK error names.
inline constexpr const char* kKekSetting = "--kek-file (WACONN_KEK_FILE)";

// The KEKs of a KEK file. Format (docs/security.md): one key per line, 64 hex digits or standard
// base64 of 32 bytes; blank lines and lines starting with '#' are ignored. The FIRST key wraps
// new data keys and is the target of a rotation; the others only unwrap (keep the old KEK listed
// until `waconnector keys rotate` has run). A KEK is named by its fingerprint (16 hex digits of
// SHA-256 over a label and the key), so no name can be mistyped.
class KekRing {
 public:
  struct Kek {
    std::string id;
    crypto::Key32 key{};
  };
  // Throws SealingError naming `origin` (e.g. "--kek-file /etc/kek") on a malformed line or when
  // there is no key at all. Never echoes key text.
  static KekRing parse(std::string_view text, const std::string& origin);
  // Reads `path`; throws SealingError naming the setting when it cannot be read.
  static KekRing load_file(const std::string& path);
  // A file of one fresh random KEK, created atomically with mode 0600 if `path` does not exist
  // (two processes racing both end up with the winner's key); returns the ring in the file.
  static KekRing load_or_create_file(const std::string& path);
  static std::string fingerprint(const crypto::Key32& kek);
  // A new random KEK as one line of the file format (hex).
  static std::string generate_line();

  const Kek& primary() const { return keys_.front(); }
  const Kek* find(std::string_view id) const;
  const std::vector<Kek>& keys() const { return keys_; }
  const std::string& origin() const { return origin_; }

 private:
  std::vector<Kek> keys_;
  std::string origin_;
};

// Seals and opens columns under the cluster's data keys. Thread-safe: one per process, shared by
// every account's store (the unwrapped data keys are cached; they never change).
class Sealer {
 public:
  // `database_url`: where the first data key is created when the connection at hand is inside a
  // transaction (whose rollback must not take the key along); empty: refuse there instead.
  explicit Sealer(KekRing keks, std::string database_url = {});

  const KekRing& keks() const { return keks_; }

  // The data key new rows are sealed under (the newest in wa_data_keys); creates the first one,
  // under a lock, when there is none. Cached after the first call.
  std::int32_t current_key_id(pg::Connection& c);
  // version byte || 12-byte nonce || ciphertext || 16-byte tag, under data key `key_id`.
  crypto::Bytes seal(pg::Connection& c, std::int32_t key_id, std::string_view business_id,
                     std::string_view column, crypto::ByteView plain);
  crypto::Bytes open(pg::Connection& c, std::int32_t key_id, std::string_view business_id,
                     std::string_view column, crypto::ByteView sealed);
  // Unwraps every data key (creating the first when there is none) and reads whether plain rows
  // are still allowed. Throws SealingError, naming the setting, for a data key it cannot unwrap:
  // `waconnector run` calls this before any account starts. Returns the number of data keys.
  std::size_t verify(pg::Connection& c);
  // False once `seal_plain_rows` sealed everything (read by verify(); true until then). Webhook
  // secrets (columns "wa_webhooks.*", sealed since 0014) have their own mark: a database sealed
  // before 0014 still holds plain ones until the next `keys seal`.
  bool plain_rows_allowed(std::string_view column = {}) const;

 private:
  const crypto::Key32& data_key(pg::Connection& c, std::int32_t id);
  crypto::Key32 unwrap_row(std::int32_t id, const std::string& kek_id, const crypto::Bytes& wrapped) const;

  std::int32_t create_first_key(pg::Connection& c);

  KekRing keks_;
  std::string database_url_;
  mutable std::mutex mu_;
  std::map<std::int32_t, crypto::Key32> data_keys_;
  std::optional<std::int32_t> current_;
  bool plain_allowed_ = true;
  bool plain_webhook_secrets_allowed_ = true;
};

// The process's sealer: installed once by the commands that handle key material (`run`, `keys`)
// before any store exists; the stores pick it up. Without one, stores write plain rows (library
// users and tests of other layers) and refuse to open sealed ones with an error naming the setting.
void install_sealer(std::shared_ptr<Sealer> sealer);
std::shared_ptr<Sealer> installed_sealer();

// What the stores call for one row: picks the installed sealer and its current data key once.
// key_id() is the row's data_key_id parameter (NULL: plain, no sealer installed).
class RowSealer {
 public:
  RowSealer(pg::Connection& c, std::string_view business_id);
  pg::Param key_id() const;
  // True when values are sealed (a sealer is installed); false: they are stored plain.
  bool sealing() const { return key_id_.has_value(); }
  // The column value to store (sealed, or the plain bytes without a sealer).
  pg::Param seal(std::string_view column, crypto::ByteView plain) const;
  crypto::Bytes seal_bytes(std::string_view column, crypto::ByteView plain) const;

 private:
  pg::Connection& c_;
  std::string business_id_;
  std::shared_ptr<Sealer> sealer_;
  std::optional<std::int32_t> key_id_;
};

// Opens a stored column: `key_id` is the row's data_key_id (nullopt: a plain row).
crypto::Bytes open_column(pg::Connection& c, std::optional<std::int32_t> key_id, std::string_view business_id,
                          std::string_view column, crypto::ByteView stored);
// The row's data_key_id from a result column (nullopt when NULL).
std::optional<std::int32_t> key_id_at(const pg::Result& r, int row, int col);

// `waconnector keys rotate`: re-wraps every data key not yet under `keks.primary()` (each found by
// the KEK that wrapped it). One compare-and-swap UPDATE per data key, so running it from several
// pods at once, or while leaders write, is safe. Throws SealingError for a data key none of the
// keys can unwrap. Returns how many were re-wrapped.
std::size_t rewrap_data_keys(pg::Connection& c, const KekRing& keks);

// `waconnector keys rotate --new-data-key`: adds a data key; processes that start afterwards seal
// new rows under it (rows keep opening under their own key id). Returns its id.
std::int32_t add_data_key(pg::Connection& c, const KekRing& keks);

struct SealCounts {
  std::size_t devices = 0, pre_keys = 0, sessions = 0, sender_keys = 0, webhooks = 0;
  std::size_t total() const { return devices + pre_keys + sessions + sender_keys + webhooks; }
};
// `waconnector keys seal`: seals every plain row (compare-and-swap on the plain value, so a leader
// writing the same row meanwhile wins and nothing is lost), then records that plain rows are
// refused from now on. Webhook secrets too (their own mark, 'webhook_secrets').
SealCounts seal_plain_rows(pg::Connection& c, Sealer& sealer);

// Rows per data key (nullopt: plain) over every sealed table, for `waconnector keys status`.
std::map<std::optional<std::int32_t>, std::int64_t> sealed_row_counts(pg::Connection& c);

}  // namespace wa::store
