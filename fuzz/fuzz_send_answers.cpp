// libFuzzer target for what the send path reads from the server (core/client usync.h,
// group_send.h, receipt_handle.h, core/signal prekey_bundle.h) behind the binary node decoder: usync
// device lists, w:g2 member lists, pre-key bundle answers, message acks and receipts (retry receipts
// with <keys> included). Input byte 0 selects the
// dictionary (bit 0x01: v2, else v3); the rest is a frame plaintext (flag byte + node).
// Beyond "no crash": the documented limits hold and parsed JIDs are what the parsers promise.
#include <cstdlib>

#include "core/client/group_send.h"
#include "core/client/receipt_handle.h"
#include "core/client/usync.h"
#include "core/signal/prekey_bundle.h"
#include "fuzz/node_input.h"

namespace bin = wa::binary;
namespace client = wa::client;

namespace {

void check(const bin::Node& n) {
  try {
    const auto users = client::parse_usync_devices(n);
    if (users.size() > client::kMaxUsyncUsers) std::abort();
    for (const auto& u : users) {
      if (u.user.is_device() || u.devices.size() > client::kMaxDevicesPerUser) std::abort();
      for (const auto& d : u.devices)
        if (d.user != u.user.user || d.server != u.user.server) std::abort();
      if (u.lid && !u.lid->is_lid()) std::abort();
    }
  } catch (const client::UsyncError&) {
  }
  try {
    const auto members = client::parse_group_participants(n);
    if (members.empty() || members.size() > client::kMaxGroupParticipants) std::abort();
    for (const auto& m : members)
      if (m.is_device() || m.user.empty()) std::abort();
  } catch (const client::GroupInfoError&) {
  }
  try {
    const auto bundles = wa::signal::parse_bundle_response(n);
    if (bundles.size() > wa::signal::kMaxBundles) std::abort();
    for (const auto& b : bundles)
      if (b.jid.is_server() || b.bundle.has_value() == !b.error.empty()) std::abort();
  } catch (const wa::signal::BundleError&) {
  }
  if (auto ack = client::parse_message_ack(n))
    if (ack->id.empty() || (ack->error && ack->error->empty())) std::abort();
  if (auto r = client::parse_receipt(n)) {
    if (r->ids.empty() || r->ids.size() > client::kMaxReceiptIds + 1 || r->from.user.empty()) std::abort();
    if ((r->kind == client::ReceiptKind::retry) != r->retry.has_value()) std::abort();
    if (r->bundle && !r->retry) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return wa::fuzz::check_node_input(data, size, check);
}
