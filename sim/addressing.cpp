#include "sim/addressing.h"

#include <algorithm>

namespace wa::sim {
namespace {

using wa::binary::Attr;
using wa::binary::Jid;
using wa::binary::Node;

__extension__ typedef unsigned __int128 u128;

constexpr std::uint64_t kModulus = 1000000000000000ull;  // 10^15: every 15-digit phone number fits
constexpr std::uint64_t kFactor = 738219650123457ull;    // odd, not a multiple of 5: invertible mod 10^15

constexpr std::uint64_t mulmod(std::uint64_t a, std::uint64_t b) {
  return static_cast<std::uint64_t>((static_cast<u128>(a) * b) % kModulus);
}

// kFactor^-1 mod 10^15 (extended Euclid, at compile time).
constexpr std::uint64_t inverse_factor() {
  __extension__ __int128 t = 0, new_t = 1, r = kModulus, new_r = kFactor;
  while (new_r != 0) {
    const auto q = r / new_r;
    const auto t2 = t - q * new_t;
    t = new_t;
    new_t = t2;
    const auto r2 = r - q * new_r;
    r = new_r;
    new_r = r2;
  }
  if (t < 0) t += kModulus;
  return static_cast<std::uint64_t>(t);
}
constexpr std::uint64_t kInverse = inverse_factor();
static_assert(mulmod(kFactor, kInverse) == 1, "the LID permutation must be invertible");

std::optional<std::uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 19 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

Jid make(std::uint64_t user, std::string_view server, std::optional<std::uint32_t> device) {
  return Jid{std::to_string(user), std::string(server), 0,
             device && *device != 0 ? std::optional<std::uint16_t>(static_cast<std::uint16_t>(*device))
                                    : std::nullopt,
             0};
}

Attr* find_attr(Node& n, std::string_view key) {
  for (auto& a : n.attrs)
    if (a.key == key) return &a;
  return nullptr;
}

// A PN JID attribute becomes its LID form; returns the PN user JID it stood for (for *_pn).
std::optional<Jid> to_lid(Node& n, std::string_view key) {
  Attr* a = find_attr(n, key);
  if (!a) return std::nullopt;
  const auto* j = std::get_if<Jid>(&a->value);
  std::optional<Jid> parsed;
  if (!j) {
    if (const auto* s = std::get_if<std::string>(&a->value)) parsed = Jid::parse(*s);
    j = parsed ? &*parsed : nullptr;
  }
  if (!j || !j->is_user() || j->agent != 0) return std::nullopt;
  auto user = number(j->user);
  if (!user || *user >= kModulus) return std::nullopt;
  const Jid pn_user = make(*user, wa::binary::server::kUser, std::nullopt);
  a->value = make(lid_of(*user), wa::binary::server::kLid, j->device);
  return pn_user;
}

void set_attr(Node& n, std::string key, Jid value) {
  if (Attr* a = find_attr(n, key))
    a->value = std::move(value);
  else
    n.attrs.push_back(Attr{std::move(key), std::move(value)});
}

}  // namespace

Addressing addressing_for(std::string_view configured, int dict_version) {
  if (configured == "pn") return Addressing::pn;
  if (configured == "lid") return Addressing::lid;
  return dict_version == 2 ? Addressing::pn : Addressing::lid;
}

const char* to_string(Addressing a) {
  return a == Addressing::lid ? "lid" : "pn";
}

std::uint64_t lid_of(std::uint64_t user) {
  return mulmod(user % kModulus, kFactor);
}

std::optional<std::uint64_t> user_of_lid(std::uint64_t lid) {
  if (lid >= kModulus) return std::nullopt;
  return mulmod(lid, kInverse);
}

Jid pn_jid(std::uint64_t user, std::optional<std::uint32_t> device) {
  return make(user, wa::binary::server::kUser, device);
}

Jid lid_jid(std::uint64_t user, std::optional<std::uint32_t> device) {
  return make(lid_of(user), wa::binary::server::kLid, device);
}

std::optional<std::pair<std::uint64_t, std::uint32_t>> device_of(std::string_view jid_text) {
  auto j = Jid::parse(jid_text);
  if (!j || j->agent != 0 || (!j->is_user() && !j->is_lid())) return std::nullopt;
  auto n = number(j->user);
  if (!n) return std::nullopt;
  std::optional<std::uint64_t> user = j->is_lid() ? user_of_lid(*n) : n;
  if (!user || *user >= kModulus) return std::nullopt;
  return std::pair<std::uint64_t, std::uint32_t>{*user, j->device.value_or(0)};
}

Node address_for(const Node& stanza, Addressing mode) {
  if (mode == Addressing::pn || (stanza.tag != "message" && stanza.tag != "receipt")) return stanza;
  Node out = stanza;
  if (auto pn = to_lid(out, "participant")) {  // a group: the author is the participant
    if (out.tag == "message") {
      set_attr(out, "participant_pn", *pn);
      out.attrs.push_back(Attr{"addressing_mode", std::string("lid")});
    }
  } else if (auto from = to_lid(out, "from"); from && out.tag == "message") {
    set_attr(out, "sender_pn", *from);
    out.attrs.push_back(Attr{"addressing_mode", std::string("lid")});
  }
  if (auto peer = to_lid(out, "recipient"); peer && out.tag == "message")
    set_attr(out, "peer_recipient_pn", *peer);
  return out;
}

}  // namespace wa::sim
