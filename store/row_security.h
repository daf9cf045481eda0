// Whether row-level security (migration 0011) binds the role a process connected as. It does not
// for a superuser or a BYPASSRLS role, and the tables' owner may switch it off, so `waconnector
// run` refuses those unless told --allow-rls-bypass (docs/security.md).
#pragma once

#include <string>

#include "store/pg.h"

namespace wa::store {

struct RlsStatus {
  std::string role;         // current_user
  bool enforced = false;    // policies bind this role
  std::string reason;       // why not (empty when enforced)
  bool app_member = false;  // member of waconnector_app
};

RlsStatus rls_status(pg::Connection& conn);

}  // namespace wa::store
