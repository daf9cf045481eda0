#include "tests/security/app_role.h"

#include <unistd.h>

#include <atomic>
#include <random>

#include <fmt/format.h>

namespace wa::test {

AppRole::AppRole() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  name_ = fmt::format("waconn_pod_{}_{}_{:08x}", ::getpid(), counter++, rd());
  auto admin = pg::Connection::open(server_url(), "test admin");
  // The name is ours and made of [a-z0-9_] only.
  admin.exec_simple("create the pods' login role",
                    fmt::format("CREATE ROLE {} LOGIN IN ROLE waconnector_app", name_).c_str());
}

AppRole::~AppRole() {
  try {
    auto admin = pg::Connection::open(server_url(), "test admin");
    admin.exec_simple("drop the pods' login role", fmt::format("DROP ROLE IF EXISTS {}", name_).c_str());
  } catch (const std::exception&) {
    // A leftover role in a throwaway cluster is harmless (names are unique).
  }
}

pg::Connection AppRole::connect(const TestDatabase& db) const {
  return pg::Connection::open(db.url(), "pod role", {{"user", name_}});
}

std::string AppRole::url(const TestDatabase& db) const {
  const auto& u = db.url();
  if (u.find("://") == std::string::npos) return u + " user=" + name_;  // key=value conninfo
  return u + (u.find('?') == std::string::npos ? "?" : "&") + "user=" + name_;
}

}  // namespace wa::test
