#include "sim/server_identity.h"

#include <chrono>

#include "core/socket/cert_chain.h"
#include "sim/root_key_store.h"

namespace wa::sim {

ServerIdentity ServerIdentity::create(const std::filesystem::path& state_dir) {
  ServerIdentity id;
  id.root = load_or_create_root_key(state_dir);
  id.noise_static = wa::crypto::KeyPair::generate();
  const auto now = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  wa::socket::CertIssueOptions opts;
  opts.not_before = now - 3600;
  opts.not_after = now + 30ull * 24 * 3600;
  auto chain = wa::socket::issue_cert_chain(id.root, id.noise_static.pub, opts);
  id.cert_chain.assign(chain.begin(), chain.end());
  return id;
}

}  // namespace wa::sim
