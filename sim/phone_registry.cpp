#include "sim/phone_registry.h"

#include <stdexcept>
#include <vector>

#include "common/phone.h"
#include "core/crypto/bytes.h"
#include "sim/connection_log.h"
#include "sim/device_registry.h"

namespace wa::sim {
namespace {

constexpr std::size_t kMaxPhones = 100000;
constexpr std::uint32_t kMaxDeviceId = 0xFFFF;  // AD_JID device byte pair

std::pair<std::uint64_t, PhoneRecord> read_phone(const std::vector<std::string>& f, const TsvError& bad) {
  const std::string &user = f[0], &priv = f[1], &next = f[2], &added = f[3];
  PhoneRecord r;
  auto u = parse_phone(user);
  if (!u || std::to_string(*u) != user) throw bad("bad phone number");
  r.user = *u;
  try {
    std::size_t pos = 0;
    unsigned long n = std::stoul(next, &pos);
    if (pos != next.size() || n < 1 || n > kMaxDeviceId + 1) throw bad("bad next device id");
    r.next_device = static_cast<std::uint32_t>(n);
    r.added_ms = std::stoll(added, &pos);
    if (pos != added.size()) throw bad("bad added_ms");
    r.account = wa::crypto::KeyPair::from_private(wa::crypto::key32_from_hex(priv, "account key"));
  } catch (const std::logic_error&) {
    throw bad("bad number or key");
  }
  return {r.user, r};
}

void write_phone(std::ostream& os, std::uint64_t, const PhoneRecord& r) {
  os << r.user << '\t' << wa::crypto::to_hex(r.account.priv) << '\t' << r.next_device << '\t' << r.added_ms;
}

}  // namespace

std::optional<std::uint64_t> parse_phone(std::string_view text) {
  auto digits = wa::phone_digits(text);
  if (!digits) return std::nullopt;
  return std::stoull(*digits);
}

PhoneRegistry::PhoneRegistry(std::filesystem::path state_dir)
    : phones_(std::move(state_dir) / "phones.tsv", {"user\taccount_private_key\tnext_device\tadded_ms", 4,
                                                    kMaxPhones, "phones", read_phone, write_phone}) {}

PhoneRecord PhoneRegistry::create(std::uint64_t user, bool& created) {
  auto phones = phones_.lock();
  if (auto it = phones->find(user); it != phones->end()) {
    created = false;
    return it->second;
  }
  if (phones->size() >= kMaxPhones) throw std::runtime_error("too many phones");
  PhoneRecord r;
  r.user = user;
  r.account = wa::crypto::KeyPair::generate();
  r.added_ms = now_unix_ms();
  (*phones)[user] = r;
  phones.save(user);
  created = true;
  return r;
}

std::optional<PhoneRecord> PhoneRegistry::find(std::uint64_t user) const {
  return phones_.find(user);
}

std::optional<std::uint32_t> PhoneRegistry::allocate_device(std::uint64_t user) {
  auto phones = phones_.lock();
  auto it = phones->find(user);
  if (it == phones->end()) return std::nullopt;
  if (it->second.next_device > kMaxDeviceId) throw std::runtime_error("phone has used every device id");
  const std::uint32_t id = it->second.next_device++;
  phones.save(user);
  return id;
}

}  // namespace wa::sim
