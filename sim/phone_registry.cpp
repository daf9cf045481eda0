#include "sim/phone_registry.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "common/phone.h"
#include "core/crypto/bytes.h"
#include "sim/connection_log.h"
#include "sim/device_registry.h"
#include "sim/tsv_file.h"

namespace wa::sim {
namespace {

constexpr std::size_t kMaxPhones = 100000;
constexpr std::uint32_t kMaxDeviceId = 0xFFFF;  // AD_JID device byte pair

}  // namespace

std::optional<std::uint64_t> parse_phone(std::string_view text) {
  auto digits = wa::phone_digits(text);
  if (!digits) return std::nullopt;
  return std::stoull(*digits);
}

PhoneRegistry::PhoneRegistry(std::filesystem::path state_dir) : file_(std::move(state_dir) / "phones.tsv") {
  read_tsv(file_, 4, [&](const std::vector<std::string>& f, const TsvError& bad) {
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
    if (phones_.size() >= kMaxPhones) throw bad("too many phones");
    phones_[r.user] = r;
  });
}

PhoneRecord PhoneRegistry::create(std::uint64_t user, bool& created) {
  std::lock_guard lock(mu_);
  if (auto it = phones_.find(user); it != phones_.end()) {
    created = false;
    return it->second;
  }
  if (phones_.size() >= kMaxPhones) throw std::runtime_error("too many phones");
  PhoneRecord r;
  r.user = user;
  r.account = wa::crypto::KeyPair::generate();
  r.added_ms = now_unix_ms();
  phones_[user] = r;
  save_locked();
  created = true;
  return r;
}

std::optional<PhoneRecord> PhoneRegistry::find(std::uint64_t user) const {
  std::lock_guard lock(mu_);
  auto it = phones_.find(user);
  if (it == phones_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::uint32_t> PhoneRegistry::allocate_device(std::uint64_t user) {
  std::lock_guard lock(mu_);
  auto it = phones_.find(user);
  if (it == phones_.end()) return std::nullopt;
  if (it->second.next_device > kMaxDeviceId) throw std::runtime_error("phone has used every device id");
  const std::uint32_t id = it->second.next_device++;
  save_locked();
  return id;
}

void PhoneRegistry::save_locked() const {
  std::ostringstream os;
  os << "# user\taccount_private_key\tnext_device\tadded_ms\n";
  for (const auto& [_, r] : phones_)
    os << r.user << '\t' << wa::crypto::to_hex(r.account.priv) << '\t' << r.next_device << '\t' << r.added_ms << '\n';
  write_private_file(file_, os.str());
}

}  // namespace wa::sim
