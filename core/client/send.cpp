// The outbox sender (issue 8; e2e reference §3, §5): claimed outbox rows become <message>
// stanzas. For each row: the device lists of the recipient and of our own account (usync, cached),
// bundles for devices we share no session with, then ONE store transaction that advances every
// session and builds the fan-out (our other devices get the DeviceSentMessage copy), then the
// stanza. The server's <ack> moves the row to `sent` (or `failed` with its error code); receipts
// move it to `delivered` / `read` (receipt_handle.cpp's parse, acted on below); a retry receipt is
// answered by re-encrypting the row's text for that one device, at most 5 times per message.
//
// The message id is the row's id on every (re)send, so a resend after a reconnect or a failover is
// the same message for the recipient.
#include <algorithm>

#include "common/log.h"
#include "common/mask.h"
#include "core/client/client_impl.h"
#include "core/client/device_sent.h"
#include "core/client/group_send.h"
#include "core/client/message_content.h"
#include "core/client/outgoing_message.h"
#include "core/client/phash.h"
#include "core/client/prekey_fetch.h"
#include "core/signal/padding.h"
#include "core/signal/prekey_bundle.h"
#include "core/signal/session_cipher.h"
#include "core/signal/signal_error.h"

namespace wa::client {

using binary::Jid;

namespace {

constexpr std::size_t kClaimBatch = 16;
constexpr int kMaxRetryAnswers = 5;

std::optional<Jid> parse_recipient(const std::string& text) {
  auto j = Jid::parse(text);
  if (!j || j->is_server() || j->is_device()) return std::nullopt;
  if (!j->is_user() && !j->is_lid() && !j->is_group()) return std::nullopt;
  return j;
}

}  // namespace

// The receive path's store adapter (message_receive.cpp): one per account for both directions.
signal::ProtocolStore* WaClient::Impl::send_protocol() {
  if (!messages || !dev || !dev->paired()) return nullptr;
  return &protocol_store();
}

void WaClient::Impl::pump_outbox() {
  if (!messages || stopped.load() || gave_up || st.load() != ConnectionState::logged_in) return;
  if (outbox_busy) {
    outbox_again = true;
    return;
  }
  if (outbox_queue.empty()) {
    std::vector<OutboxItem> claimed;
    // Not essential: a database hiccup only delays sending (StoreFenced still ends the client).
    if (!store_write(
            "claim outbox", [&] { claimed = messages->claim_outbox(kClaimBatch); }, false))
      return;
    if (claimed.empty()) return;
    wa::log::debug("wa_outbox_claimed").kv("business_id", business_id).kv("rows", claimed.size());
    for (auto& c : claimed) outbox_queue.push_back(std::move(c));
  }
  send_next();
}

void WaClient::Impl::send_next() {
  if (stopped.load() || gave_up || st.load() != ConnectionState::logged_in) {
    outbox_busy = false;
    return;
  }
  if (outbox_queue.empty()) {
    outbox_busy = false;
    // More rows may have been queued while this batch went out; a full batch suggests so too.
    outbox_again = false;
    asio::post(io, alive([this] { pump_outbox(); }));
    return;
  }
  outbox_busy = true;
  OutboxItem item = std::move(outbox_queue.front());
  outbox_queue.pop_front();
  const auto to = parse_recipient(item.recipient);
  if (!to) {
    finish_item(item, OutboxStatus::failed, "malformed recipient");
    return send_next();
  }
  if (!dev || !dev->paired()) return;  // cannot happen while logged in
  if (!to->is_group()) return resolve_chat(std::move(item));
  // A group: its members first (asked every time, so a member change is never missed).
  outbox_iq(group_info_query(ids.next(), *to), std::move(item), [this](OutboxItem item, const Node& answer) {
    std::vector<Jid> members;
    try {
      members = parse_group_participants(answer);
    } catch (const GroupInfoError& e) {
      finish_item(item, OutboxStatus::failed, std::string("group: ") + e.what());
      return send_next();
    }
    resolve_devices(std::move(item), std::move(members));
  });
}

// The addressing the service uses today (wa-beyond-text §4; whatsmeow SendMessage): once we have a
// LID ourselves, a phone-number recipient is written to by its LID, so the sessions are the ones its
// replies (from its LID) use. The LID comes from the store's map or a usync <lid/> query.
Jid WaClient::Impl::own_chat_user() const {
  if (!dev->lid.empty())
    if (auto l = Jid::parse(dev->lid)) return l->to_non_ad();
  return Jid::parse(dev->jid)->to_non_ad();
}

void WaClient::Impl::resolve_chat(OutboxItem item) {
  const Jid to = parse_recipient(item.recipient)->to_non_ad();
  const Jid own_user = own_chat_user();
  if (!to.is_user() || !own_user.is_lid()) return resolve_devices(std::move(item), {to, own_user});
  std::optional<std::string> lid;
  if (!store_write(
          "find lid", [&] { lid = messages->lid_for_pn(to.user); }, false) &&
      (stopped.load() || gave_up))
    return;
  if (lid) return resolve_devices(std::move(item), {Jid{*lid, std::string(binary::server::kLid), 0, std::nullopt, 0}, own_user});
  outbox_iq(
      usync_devices_query(ids.next(), {to}, true), std::move(item),
      [this, to, own_user](OutboxItem item, const Node& answer) {
        std::optional<Jid> found;
        try {
          for (auto& u : parse_usync_devices(answer)) {
            if (!u.lid) {
              device_cache.put(u.user, std::move(u.devices));
              continue;
            }
            found = u.lid;
            if (!store_write(
                    "store lid mapping", [&] { messages->put_lid_mapping(u.lid->user, u.user.user); }, false))
              return send_failed_store(std::move(item));
          }
        } catch (const UsyncError& e) {
          finish_item(item, OutboxStatus::failed, std::string("lid lookup: ") + e.what());
          return send_next();
        }
        resolve_devices(std::move(item), {found.value_or(to), own_user});
      });
}

void WaClient::Impl::resolve_devices(OutboxItem item, std::vector<Jid> users) {
  std::vector<Jid> missing;
  for (const auto& u : users)
    if (!device_cache.get(u)) missing.push_back(u);
  if (missing.size() > kMaxUsyncUsers) missing.resize(kMaxUsyncUsers);
  if (missing.empty()) return send_with_devices(std::move(item), users);
  outbox_iq(usync_devices_query(ids.next(), missing), std::move(item),
            [this, missing, users](OutboxItem item, const Node& answer) {
              try {
                for (auto& u : parse_usync_devices(answer)) device_cache.put(u.user, std::move(u.devices));
              } catch (const UsyncError& e) {
                finish_item(item, OutboxStatus::failed, std::string("device list: ") + e.what());
                return send_next();
              }
              // A user the server did not list has no devices we could write to.
              for (const auto& u : missing)
                if (!device_cache.get(u)) device_cache.put(u, {});
              send_with_devices(std::move(item), users);
            });
}

void WaClient::Impl::send_with_devices(OutboxItem item, const std::vector<Jid>& users) {
  const Jid to = users.empty() || parse_recipient(item.recipient)->is_group() ? *parse_recipient(item.recipient) : users.front();
  const OwnIdentity own{*Jid::parse(dev->jid), dev->lid.empty() ? std::nullopt : Jid::parse(dev->lid)};
  std::vector<Jid> devices;
  bool recipient_has_devices = false;
  for (const auto& u : users)
    for (auto& d : device_cache.get(u).value_or(std::vector<Jid>{})) {
      if (is_this_device(d, own)) continue;
      recipient_has_devices = recipient_has_devices || !is_own_account(d, own);
      if (std::find(devices.begin(), devices.end(), d) == devices.end()) devices.push_back(d);
    }
  if (!recipient_has_devices && !to.is_group()) {
    device_cache.invalidate(to);
    finish_item(item, OutboxStatus::failed, "the recipient has no devices");
    return send_next();
  }
  signal::ProtocolStore* ps = send_protocol();
  if (!ps) return finish_item(item, OutboxStatus::failed, "no Signal store"), send_next();
  std::vector<Jid> need;
  if (!store_write(
          "find sessions", [&] { need = devices_without_session(*ps, devices); }, false))
    return send_failed_store(std::move(item));
  if (need.empty()) return encrypt_and_send(std::move(item), to, devices);
  if (need.size() > kMaxBundleFetch) need.resize(kMaxBundleFetch);
  outbox_iq(
      bundle_request(ids.next(), need), std::move(item),
      [this, to, devices](OutboxItem item, const Node& answer) {
        signal::ProtocolStore* ps = send_protocol();
        bool ok = store_write(
            "build sessions",
            [&] {
          try {
            messages->transaction("build sessions", [&] {
              const auto out = apply_bundles(*ps, answer);
              for (const auto& [jid, why] : out.failed)
                wa::log::info("wa_send_no_bundle")
                    .kv("business_id", business_id)
                    .kv("device", wa::mask_jid(jid.to_string()))
                    .kv("error", why);
            });
          } catch (const signal::BundleError& e) {
            wa::log::warn("wa_send_bad_bundles").kv("business_id", business_id).kv("error", e.what());
          }
            },
            false);
        if (!ok) return send_failed_store(std::move(item));
        encrypt_and_send(std::move(item), to, devices);
      });
}

void WaClient::Impl::encrypt_and_send(OutboxItem item, const Jid& to, const std::vector<Jid>& devices) {
  const OwnIdentity own{*Jid::parse(dev->jid), dev->lid.empty() ? std::nullopt : Jid::parse(dev->lid)};
  const auto message = encode_text_message(item.text, item.reply_to);
  const auto dsm = device_sent_plaintext(to, message);
  signal::ProtocolStore* ps = send_protocol();
  if (to.is_group()) {
    GroupMessage gm;
    std::string signal_error;
    if (!store_write(
            "encrypt group message",
            [&] {
              try {
                messages->transaction("encrypt group message", [&] {
                  const auto have = messages->sender_key_devices(to.to_non_ad().to_string());
                  gm = group_message(*ps, item.id, to, devices, own, message, dev->account, have);
                });
              } catch (const signal::SignalError& e) {
                signal_error = e.what();
              }
            },
            false))
      return send_failed_store(std::move(item));
    if (!signal_error.empty()) {
      finish_item(item, OutboxStatus::failed, "encryption failed: " + signal_error);
      return send_next();
    }
    send(gm.stanza);
    // Recorded as holding our sender key once the server has the message (on_server_ack).
    if (!gm.skdm_devices.empty()) skdm_pending[item.id] = {to.to_non_ad().to_string(), std::move(gm.skdm_devices)};
    wa::log::info("wa_message_sent")
        .kv("business_id", business_id)
        .kv("id", item.id)
        .kv("group", true)
        .kv("devices", gm.devices)
        .kv("pkmsg", gm.any_pkmsg)
        .kv("attempt", item.attempts);
    awaiting_ack[item.id] = std::move(item);
    return send_next();
  }
  Fanout fan;
  // The ratchets advance and are stored before the stanza leaves: a crash in between costs a
  // resend with fresh keys, never a reused one.
  std::string signal_error;
  if (!store_write(
          "encrypt message",
          [&] {
            try {
              messages->transaction("encrypt message", [&] { fan = encrypt_fanout(*ps, devices, own, message, dsm); });
            } catch (const signal::SignalError& e) {
              signal_error = e.what();  // rolled back: no session advanced
            }
          },
          false))
    return send_failed_store(std::move(item));
  if (!signal_error.empty()) {
    finish_item(item, OutboxStatus::failed, "encryption failed: " + signal_error);
    return send_next();
  }
  const bool reaches_recipient = std::any_of(fan.devices.begin(), fan.devices.end(),
                                             [&](const Jid& d) { return !is_own_account(d, own); });
  if (!reaches_recipient) {
    device_cache.invalidate(to);
    finish_item(item, OutboxStatus::failed, "no device of the recipient could be written to");
    return send_next();
  }
  sent_phash[item.id] = participant_hash(fan.devices);
  const std::size_t n_devices = fan.devices.size();
  const bool pk = fan.any_pkmsg;
  send(message_stanza(item.id, to, kTextType, std::move(fan), dev->account));
  wa::log::info("wa_message_sent")
      .kv("business_id", business_id)
      .kv("id", item.id)
      .kv("devices", n_devices)
      .kv("pkmsg", pk)
      .kv("attempt", item.attempts);
  awaiting_ack[item.id] = std::move(item);
  send_next();
}

void WaClient::Impl::finish_item(const OutboxItem& item, OutboxStatus status, const std::string& error) {
  if (status == OutboxStatus::failed)
    wa::log::warn("wa_message_failed").kv("business_id", business_id).kv("id", item.id).kv("error", error);
  store_write(
      "mark outbox", [&] { messages->mark_outbox(item.id, status, error.empty() ? std::nullopt : std::optional(error)); },
      false);
}

void WaClient::Impl::send_failed_store(OutboxItem item) {
  // A store failure that is not a fence (the client has ended then): the row stays claimed by
  // this epoch, so keep it here and try again on the next pump instead of losing it.
  if (stopped.load() || gave_up) return;
  outbox_queue.push_front(std::move(item));
  outbox_busy = false;
}

void WaClient::Impl::outbox_iq(const Node& query, OutboxItem item,
                               std::function<void(OutboxItem, const Node& answer)> on_answer) {
  const auto g = gen;
  send_iq(
      query,
      [this, g, item = std::move(item), on_answer = std::move(on_answer)](const IqResult& r) mutable {
        if (g != gen || stopped.load()) return;
        if (!r.answered()) {
          outbox_queue.push_front(std::move(item));
          outbox_busy = false;
          return;
        }
        on_answer(std::move(item), *r.node);
      },
      opt.iq_timeout);
}

void WaClient::Impl::requeue_unacked() {
  // Sent but not acked when the connection ended: send again (same id) after the next login.
  for (auto it = awaiting_ack.rbegin(); it != awaiting_ack.rend(); ++it) outbox_queue.push_front(std::move(it->second));
  awaiting_ack.clear();
  skdm_pending.clear();  // never acked: those devices get the SKDM again with the resend
  outbox_busy = false;
  outbox_again = false;
}

void WaClient::Impl::on_server_ack(const Node& n) {
  const auto ack = parse_message_ack(n);
  if (!ack) return;
  auto it = awaiting_ack.find(ack->id);
  if (it == awaiting_ack.end()) return;  // a retry resend's ack, or one from before a reconnect
  OutboxItem item = std::move(it->second);
  awaiting_ack.erase(it);
  const auto our_phash = sent_phash[ack->id];
  sent_phash.erase(ack->id);
  auto skdm = skdm_pending.extract(ack->id);
  if (ack->error) return finish_item(item, OutboxStatus::failed, "server refused the message: error " + *ack->error);
  if (!skdm.empty() &&
      !store_write(
          "store sender key recipients",
          [&] { messages->add_sender_key_devices(skdm.mapped().first, skdm.mapped().second); }, false))
    return;
  if (ack->phash && *ack->phash != our_phash) {
    // Our device lists are stale (whatsmeow does the same): ask again next time.
    if (auto to = parse_recipient(item.recipient)) device_cache.invalidate(*to);
    if (auto chat = Jid::parse(ack->from)) device_cache.invalidate(*chat);
    device_cache.invalidate(*Jid::parse(dev->jid));
  }
  finish_item(item, OutboxStatus::sent, "");
  if (opt.on_message_sent) {
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    opt.on_message_sent("text", item.created_at_ms > 0 ? std::max<double>(0.0, (now_ms - item.created_at_ms) / 1000.0) : 0.0);
  }
}

bool WaClient::Impl::on_receipt(const Node& n) {
  const auto r = parse_receipt(n);
  if (!r || !messages || !dev || !dev->paired()) return true;
  const OwnIdentity own{*Jid::parse(dev->jid), dev->lid.empty() ? std::nullopt : Jid::parse(dev->lid)};
  if (r->kind == ReceiptKind::retry) {
    answer_retry(*r);
    return true;
  }
  if (r->kind != ReceiptKind::delivered && r->kind != ReceiptKind::read) return true;
  if (is_own_account(r->from, own)) return true;  // our own devices' receipts say nothing of the recipient
  const auto status = r->kind == ReceiptKind::read ? OutboxStatus::read : OutboxStatus::delivered;
  for (const auto& id : r->ids) {
    // A delivery receipt may beat the server ack on a fast path: it implies sent.
    if (!store_write(
            "mark outbox", [&] { messages->mark_outbox(id, status); }, false))
      return false;  // not stored: unacked, the server gives it to whichever pod leads next
  }
  return true;
}

void WaClient::Impl::answer_retry(const Receipt& r) {
  const std::string& id = r.ids.front();
  std::optional<OutboxItem> item;
  if (!store_write(
          "find outbox", [&] { item = messages->find_outbox(id); }, false) ||
      !item)
    return;  // not a message of our outbox
  int& answered = retries_answered[id];
  if (answered >= kMaxRetryAnswers) {
    wa::log::info("wa_retry_ignored").kv("business_id", business_id).kv("id", id).kv("answered", answered);
    return;
  }
  ++answered;
  auto to = parse_recipient(item->recipient);
  signal::ProtocolStore* ps = send_protocol();
  if (!to || !ps) return;
  const OwnIdentity own{*Jid::parse(dev->jid), dev->lid.empty() ? std::nullopt : Jid::parse(dev->lid)};
  const auto message = encode_text_message(item->text, item->reply_to);
  if (to->is_group()) return answer_group_retry(r, *item, *to, own, message);
  const auto plain = is_own_account(r.from, own) ? device_sent_plaintext(*to, message) : message;
  std::optional<Node> stanza;
  store_write(
      "answer retry",
      [&] {
        messages->transaction("answer retry", [&] {
          const auto addr = signal::Address::from_jid(r.from);
          if (r.retry->has_keys && r.bundle) {
            // The peer sent fresh keys: start a new session from them (whatsmeow does the same).
            signal::process_bundle(*ps, addr, *r.bundle);
          }
          if (!signal::has_session(*ps, addr)) return;
          stanza = resend_stanza(*ps, id, r.from, kTextType, signal::pad(plain), std::max(1, r.retry->count),
                                 dev->account);
        });
      },
      false);
  if (!stanza) {
    wa::log::info("wa_retry_unanswered").kv("business_id", business_id).kv("id", id).kv("reason", "no session");
    return;
  }
  send(*stanza);
  wa::log::info("wa_retry_answered").kv("business_id", business_id).kv("id", id).kv("count", r.retry->count);
}

void WaClient::Impl::answer_group_retry(const Receipt& r, const OutboxItem& item, const Jid& group,
                                        const OwnIdentity& own, const Bytes& message) {
  // The member device could not read the skmsg (it lacks our sender key, or lost it): it gets the
  // message pairwise with our current SKDM, and is recorded as holding the key from then on.
  std::optional<Node> stanza;
  signal::ProtocolStore* ps = send_protocol();
  store_write(
      "answer group retry",
      [&] {
        messages->transaction("answer group retry", [&] {
          const auto addr = signal::Address::from_jid(r.from);
          if (r.retry->has_keys && r.bundle) signal::process_bundle(*ps, addr, *r.bundle);
          if (!signal::has_session(*ps, addr)) return;
          stanza = group_retry_stanza(*ps, item.id, group, r.from, own, message, std::max(1, r.retry->count),
                                      dev->account);
          messages->add_sender_key_devices(group.to_non_ad().to_string(), {addr.to_string()});
        });
      },
      false);
  if (!stanza) {
    wa::log::info("wa_retry_unanswered").kv("business_id", business_id).kv("id", item.id).kv("reason", "no session");
    return;
  }
  send(*stanza);
  wa::log::info("wa_retry_answered")
      .kv("business_id", business_id)
      .kv("id", item.id)
      .kv("group", true)
      .kv("count", r.retry->count);
}

}  // namespace wa::client
