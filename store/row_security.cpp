#include "store/row_security.h"

namespace wa::store {

RlsStatus rls_status(pg::Connection& conn) {
  auto r = conn.exec("check row-level security for this role",
                     "SELECT current_user::text, r.rolsuper, r.rolbypassrls,"
                     " coalesce((SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c"
                     "   WHERE c.oid = to_regclass('wa_accounts')), false),"
                     " coalesce((SELECT c.relrowsecurity AND c.relforcerowsecurity FROM pg_class c"
                     "   WHERE c.oid = to_regclass('wa_accounts')), false),"
                     " EXISTS (SELECT 1 FROM pg_roles a WHERE a.rolname = 'waconnector_app'"
                     "   AND pg_has_role(current_user, a.oid, 'MEMBER'))"
                     " FROM pg_roles r WHERE r.rolname = current_user");
  RlsStatus s;
  s.role = std::string(r.text(0, 0));
  s.app_member = r.boolean(0, 5);
  if (r.boolean(0, 1)) {
    s.reason = "the role is a superuser";
  } else if (r.boolean(0, 2)) {
    s.reason = "the role has BYPASSRLS";
  } else if (r.boolean(0, 3)) {
    s.reason = "the role owns the tables (it may disable row-level security)";
  } else if (!r.boolean(0, 4)) {
    s.reason = "row-level security is not enabled on the tables (schema older than migration 0011)";
  }
  s.enforced = s.reason.empty();
  return s;
}

}  // namespace wa::store
