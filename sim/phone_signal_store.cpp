#include "sim/phone_signal_store.h"

#include <sstream>
#include <stdexcept>

#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "sim/tsv_file.h"

namespace wa::sim {
namespace {

using wa::crypto::Bytes;
using wa::signal::Address;

// "name:device" -> Address (the name never contains ':' for phone-number users).
Address parse_address(const std::string& s, const TsvError& bad) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) throw bad("bad address");
  try {
    return Address{s.substr(0, colon), static_cast<std::uint32_t>(std::stoul(s.substr(colon + 1)))};
  } catch (const std::logic_error&) {
    throw bad("bad address");
  }
}

std::uint32_t parse_id(const std::string& s, const TsvError& bad) {
  try {
    std::size_t pos = 0;
    auto v = std::stoul(s, &pos);
    if (pos != s.size() || v > 0xFFFFFFFFul) throw bad("bad number");
    return static_cast<std::uint32_t>(v);
  } catch (const std::logic_error&) {
    throw bad("bad number");
  }
}

}  // namespace

PhoneSignalStore::PhoneSignalStore(std::filesystem::path file, const wa::crypto::KeyPair& identity)
    : file_(std::move(file)) {
  local_.identity = identity;
  bool loaded = false;
  read_tsv(file_, 3, [&](const std::vector<std::string>& f, const TsvError& bad) {
    loaded = true;
    try {
      if (f[0] == "registration") {
        local_.registration_id = parse_id(f[1], bad);
      } else if (f[0] == "spk") {
        signed_pre_key_.id = parse_id(f[1], bad);
        auto parts = f[2];
        auto comma = parts.find(',');
        if (comma == std::string::npos) throw bad("spk is priv,signature");
        signed_pre_key_.pair =
            wa::crypto::KeyPair::from_private(wa::crypto::key32_from_hex(parts.substr(0, comma)));
        signed_pre_key_.signature = wa::crypto::from_hex(parts.substr(comma + 1));
      } else if (f[0] == "pk") {
        pre_keys_[parse_id(f[1], bad)] = wa::crypto::KeyPair::from_private(wa::crypto::key32_from_hex(f[2]));
      } else if (f[0] == "session") {
        sessions_[parse_address(f[1], bad)] = wa::crypto::from_hex(f[2]);
      } else if (f[0] == "identity") {
        identities_[parse_address(f[1], bad)] = wa::crypto::key32_from_hex(f[2]);
      } else if (f[0] == "senderkey") {
        auto bar = f[1].find('|');
        if (bar == std::string::npos) throw bad("sender key name is group|address");
        sender_keys_[wa::signal::SenderKeyName{
            f[1].substr(0, bar), parse_address(f[1].substr(bar + 1), bad)}] = wa::crypto::from_hex(f[2]);
      } else {
        throw bad("unknown record kind");
      }
    } catch (const std::invalid_argument& e) {
      throw bad(e.what());
    }
  });
  if (loaded) return;
  auto r = wa::crypto::random_bytes(2);
  local_.registration_id = 1 + ((std::uint32_t{r[0]} << 8 | r[1]) % 16380);
  signed_pre_key_.id = 1;
  signed_pre_key_.pair = wa::crypto::KeyPair::generate();
  Bytes msg{5};
  msg.insert(msg.end(), signed_pre_key_.pair.pub.begin(), signed_pre_key_.pair.pub.end());
  signed_pre_key_.signature = wa::crypto::xeddsa_sign(local_.identity.priv, msg);
  for (std::uint32_t id = 1; id <= kPreKeys; ++id) pre_keys_[id] = wa::crypto::KeyPair::generate();
  save();
}

void PhoneSignalStore::save() const {
  std::ostringstream os;
  os << "# kind\tkey\tvalue (hex)\n";
  os << "registration\t" << local_.registration_id << "\t-\n";
  os << "spk\t" << signed_pre_key_.id << '\t' << wa::crypto::to_hex(signed_pre_key_.pair.priv) << ','
     << wa::crypto::to_hex(signed_pre_key_.signature) << '\n';
  for (const auto& [id, k] : pre_keys_) os << "pk\t" << id << '\t' << wa::crypto::to_hex(k.priv) << '\n';
  for (const auto& [a, rec] : sessions_)
    os << "session\t" << a.to_string() << '\t' << wa::crypto::to_hex(rec) << '\n';
  for (const auto& [a, k] : identities_)
    os << "identity\t" << a.to_string() << '\t' << wa::crypto::to_hex(k) << '\n';
  for (const auto& [n, rec] : sender_keys_)
    os << "senderkey\t" << n.group << '|' << n.sender.to_string() << '\t' << wa::crypto::to_hex(rec) << '\n';
  std::filesystem::create_directories(file_.parent_path());
  write_private_file(file_, os.str());
}

std::optional<Bytes> PhoneSignalStore::load_session(const Address& a) {
  auto it = sessions_.find(a);
  if (it == sessions_.end()) return std::nullopt;
  return it->second;
}

void PhoneSignalStore::store_session(const Address& a, wa::crypto::ByteView record) {
  sessions_[a] = Bytes(record.begin(), record.end());
}

std::size_t PhoneSignalStore::delete_all_sessions(const std::string& name) {
  std::size_t n = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->first.name == name) {
      it = sessions_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

std::vector<std::uint32_t> PhoneSignalStore::sub_device_sessions(const std::string& name) {
  std::vector<std::uint32_t> out;
  for (const auto& [a, _] : sessions_)
    if (a.name == name && a.device != 1) out.push_back(a.device);
  return out;
}

std::optional<wa::crypto::Key32> PhoneSignalStore::load_identity(const Address& a) {
  auto it = identities_.find(a);
  if (it == identities_.end()) return std::nullopt;
  return it->second;
}

std::optional<wa::crypto::KeyPair> PhoneSignalStore::load_pre_key(std::uint32_t id) {
  auto it = pre_keys_.find(id);
  if (it == pre_keys_.end()) return std::nullopt;
  return it->second;
}

std::optional<wa::signal::SignedPreKeyPair> PhoneSignalStore::load_signed_pre_key(std::uint32_t id) {
  if (id != signed_pre_key_.id) return std::nullopt;
  return signed_pre_key_;
}

std::optional<Bytes> PhoneSignalStore::load_sender_key(const wa::signal::SenderKeyName& n) {
  auto it = sender_keys_.find(n);
  if (it == sender_keys_.end()) return std::nullopt;
  return it->second;
}

void PhoneSignalStore::store_sender_key(const wa::signal::SenderKeyName& n, wa::crypto::ByteView record) {
  sender_keys_[n] = Bytes(record.begin(), record.end());
}

}  // namespace wa::sim
