// A login role as the manifests create one for pods: a member of waconnector_app (migration 0011)
// that owns nothing. Unique per instance (roles are cluster-wide); dropped at the end.
#pragma once

#include <string>

#include "store/pg.h"
#include "tests/store/test_db.h"

namespace wa::test {

class AppRole {
 public:
  AppRole();  // needs a migrated database on the cluster (waconnector_app exists)
  ~AppRole();
  AppRole(const AppRole&) = delete;
  AppRole& operator=(const AppRole&) = delete;

  const std::string& name() const { return name_; }
  pg::Connection connect(const TestDatabase& db) const;
  // db.url() with this role as the user (for child processes).
  std::string url(const TestDatabase& db) const;

 private:
  std::string name_;
};

}  // namespace wa::test
