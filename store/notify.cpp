#include "store/notify.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

namespace wa::store {
namespace {

struct NotifyDeleter {
  void operator()(PGnotify* n) const { PQfreemem(n); }
};
struct FreeMem {
  void operator()(char* p) const { PQfreemem(p); }
};

}  // namespace

void listen(pg::Connection& conn, std::string_view channel) {
  const auto purpose = fmt::format("listen on {}", channel);
  if (!conn.valid()) throw pg::Error(purpose + ": no database connection", "08003").set_connection_lost(true);
  // LISTEN takes no parameters: the name goes in as a quoted identifier.
  std::unique_ptr<char, FreeMem> quoted(PQescapeIdentifier(conn.raw(), channel.data(), channel.size()));
  if (!quoted) throw pg::Error(fmt::format("{}: {}", purpose, PQerrorMessage(conn.raw())), "");
  conn.exec_simple(purpose, ("LISTEN " + std::string(quoted.get())).c_str());
}

void notify(pg::Connection& conn, std::string_view channel, std::string_view payload) {
  conn.exec(fmt::format("notify on {}", channel), "SELECT pg_notify($1, $2)",
            {pg::Param(channel), pg::Param(payload)});
}

bool wait_for_notify(pg::Connection& conn, std::chrono::milliseconds timeout, int wake_fd) {
  // A notification that came in with an earlier statement's result is already buffered: the
  // socket would not wake us for it.
  bool any = false;
  while (std::unique_ptr<PGnotify, NotifyDeleter> note{PQnotifies(conn.raw())}) any = true;
  if (any) return true;
  pollfd p[2] = {{conn.socket(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int n = ::poll(p, wake_fd >= 0 ? 2 : 1,
                       static_cast<int>(std::clamp<std::int64_t>(timeout.count(), 0, 3600000)));
  if (n < 0 && errno != EINTR)
    throw pg::Error(fmt::format("wait for notifications: poll: {}", std::strerror(errno)), "");
  if (PQconsumeInput(conn.raw()) == 0)
    throw pg::Error(fmt::format("wait for notifications: {}", PQerrorMessage(conn.raw())), "08006")
        .set_connection_lost(true);
  while (std::unique_ptr<PGnotify, NotifyDeleter> note{PQnotifies(conn.raw())}) any = true;
  return any;
}

}  // namespace wa::store
