// Pre-key bundles (e2e reference §2.4): parsing the <iq xmlns="encrypt"> answer to a bundle fetch,
// and building a session from a bundle before the first message to a device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "core/binary/node.h"
#include "core/signal/protocol_store.h"

namespace wa::signal {

using BundleError = wa::Error<struct BundleErrorTag>;

struct PreKeyBundle {
  std::uint32_t registration_id = 0;
  Key32 identity{};  // 32 bytes on the wire, 0x05 is prepended for libsignal
  std::uint32_t signed_pre_key_id = 0;
  Key32 signed_pre_key{};
  Bytes signed_pre_key_signature;  // 64 bytes
  struct OneTime {
    std::uint32_t id = 0;
    Key32 key{};
  };
  std::optional<OneTime> pre_key;  // absent when the device has no one-time keys left
};

// One <user jid=…> of the answer: the bundle, or why that device has none.
struct FetchedBundle {
  binary::Jid jid;
  std::optional<PreKeyBundle> bundle;
  std::string error;  // set when bundle is empty: the <error> child or the parse failure
};

// Parses a <user> element: <registration> 4 bytes BE, <identity> 32, <skey><id>3 <value>32
// <signature>64</skey>, optional <key><id>3 <value>32</key>; identity/skey/key may be wrapped in
// <keys> (retry receipts). Exact widths, as whatsmeow checks. Throws BundleError.
PreKeyBundle parse_bundle(const binary::Node& user);

// Most <user> entries an answer may list: what we ask for at most (wasim's cap too).
inline constexpr std::size_t kMaxBundles = 1024;

// Parses the whole <iq type="result"><list><user>…</list></iq>. A device whose <user> carries an
// <error> or is malformed gets an error entry; the iq itself being malformed (or listing more than
// kMaxBundles entries) throws BundleError.
std::vector<FetchedBundle> parse_bundle_response(const binary::Node& iq);

// X3DH from the bundle: afterwards `to` has a session and the next encrypt() is a pkmsg. Throws
// SignalError (kind invalid_key when the signed pre-key signature does not verify).
void process_bundle(ProtocolStore& store, const Address& to, const PreKeyBundle& bundle);

}  // namespace wa::signal
