// Pre-keys after login and on the server's request: stored keys not uploaded yet go first, new
// ones are generated (and saved before they are sent) for the rest.
#include "core/client/prekeys.h"

#include <optional>
#include <utility>

#include "common/log.h"
#include "common/mask.h"
#include "core/client/client_impl.h"

namespace wa::client {
namespace {

// A failed store read is logged and comes back empty; the caller decides what to skip.
template <class F>
auto store_read(const std::string& business_id, const char* purpose, F&& read)
    -> std::optional<decltype(read())> {
  try {
    return read();
  } catch (const std::exception& e) {
    wa::log::error("wa_client_store_read_failed")
        .kv("business_id", business_id)
        .kv("purpose", purpose)
        .kv("error", e.what());
    return std::nullopt;
  }
}

}  // namespace

std::optional<std::size_t> pre_key_count_of(const binary::Node& n) {
  const Node* c = n.child("count");
  if (!c) return std::nullopt;
  const auto v = c->attr_text("value").value_or("");
  if (v.empty() || v.size() >= 9 || v.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return static_cast<std::size_t>(std::stoul(v));
}

// After <success>: ask the server's count, top up when it or our own stock is low, then `then`.
void WaClient::Impl::check_pre_keys(std::uint64_t g, std::function<void()> then) {
  send_iq(
      pre_key_count(ids.next()),
      [this, g, then = std::move(then)](const IqResult& r) {
        if (g != gen) return;
        bool known = false;
        std::size_t server_count = 0;
        if (auto c = r.ok() ? pre_key_count_of(*r.node) : std::nullopt) {
          known = true;
          server_count = *c;
        }
        if (!known)
          wa::log::warn("wa_client_prekey_count_unknown")
              .kv("business_id", business_id)
              .kv("result", r.describe());
        const std::size_t local = store_read(business_id, "uploaded pre-key count", [&] {
                                    return store->uploaded_pre_key_count();
                                  }).value_or(0);
        if (known && (server_count < kMinPreKeyCount || local < kMinPreKeyCount)) {
          return upload_pre_keys(server_count == 0 && local == 0 ? kInitialPreKeyCount : kWantedPreKeyCount,
                                 then);
        }
        then();
      },
      opt.iq_timeout);
}

void WaClient::Impl::on_pre_key_notification(const Node& n) {
  if (n.child("identity") != nullptr) return on_identity_notification(n);
  if (st.load() != ConnectionState::logged_in) return;
  const auto count = pre_key_count_of(n);
  if (count && *count < kMinPreKeyCount) upload_pre_keys(kWantedPreKeyCount, [] {});
}

void WaClient::Impl::upload_pre_keys(std::size_t want, std::function<void()> then) {
  auto stored =
      store_read(business_id, "unuploaded pre-keys", [&] { return store->unuploaded_pre_keys(want); });
  if (!stored) return then();
  std::vector<PreKey> keys = std::move(*stored);
  if (keys.size() < want) {
    const auto first_id =
        store_read(business_id, "next pre-key id", [&] { return store->next_pre_key_id(); });
    if (!first_id) return then();
    std::uint32_t next = *first_id;
    std::vector<PreKey> fresh;
    for (std::size_t i = keys.size(); i < want; ++i) {
      if (next == 0 || next > kMaxPreKeyId) next = 1;  // 24-bit ids wrap
      fresh.push_back(PreKey{next++, KeyPair::generate(), false});
    }
    if (!store_write("save pre-keys", [&] { store->save_pre_keys(fresh); })) return;
    keys.insert(keys.end(), fresh.begin(), fresh.end());
  }
  if (keys.empty()) return then();
  std::uint32_t last = 0;
  for (const auto& k : keys) last = std::max(last, k.id);
  const auto g = gen;
  const auto n = keys.size();
  send_iq(
      pre_key_upload(ids.next(), *dev, keys),
      [this, g, last, n, then](const IqResult& r) {
        if (g != gen) return;
        if (r.ok()) {
          if (!store_write("mark pre-keys uploaded", [&] { store->mark_pre_keys_uploaded(last); })) return;
          wa::log::info("wa_client_prekeys_uploaded").kv("business_id", business_id).kv("count", n);
        } else {
          wa::log::warn("wa_client_prekey_upload_failed")
              .kv("business_id", business_id)
              .kv("count", n)
              .kv("result", r.describe());
        }
        then();
      },
      opt.iq_timeout);
}

// <notification type="encrypt" from=<contact>><identity/></notification>: the contact's identity
// key changed (a reinstalled app, a new phone). As whatsmeow's handleEncryptNotification: its
// sessions and stored identity keys go, and its device list is asked again, so our next message
// starts a new session from a fresh bundle instead of being encrypted for a key nobody holds.
void WaClient::Impl::on_identity_notification(const Node& n) {
  const auto from = binary::Jid::parse(n.attr_text("from").value_or(""));
  if (!from || (!from->is_user() && !from->is_lid()) || !messages || !dev || !dev->paired()) return;
  const auto name = signal::Address::from_jid(from->to_non_ad()).name;
  std::size_t dropped = 0;
  store_write(
      "forget a changed identity",
      [&] {
        messages->transaction("forget a changed identity", [&] {
          auto stores = messages->signal_stores();
          std::vector<std::uint32_t> devices = stores.sessions.sub_device_sessions(name);
          devices.push_back(0);
          devices.push_back(1);
          for (const auto d : devices) stores.identities.delete_identity(signal::Address{name, d});
          dropped = stores.sessions.delete_all_sessions(name);
        });
      },
      false);
  device_cache.invalidate(*from);
  wa::log::warn("wa_contact_identity_changed")
      .kv("business_id", business_id)
      .kv("contact", mask_jid(from->to_string()))
      .kv("sessions_dropped", static_cast<std::int64_t>(dropped));
}

}  // namespace wa::client
