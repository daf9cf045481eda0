// One HTTP(S) POST of a webhook delivery, blocking with a hard deadline (connect, TLS, send and the
// answer together), so a receiver that hangs costs its timeout and nothing else. Runs on the
// webhook sender's thread, never on a connection the leader needs. https verifies the peer's
// certificate and host name against the system's trust store.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace wa::app::api {

struct WebhookUrl {
  bool tls = false;
  std::string host;
  int port = 0;
  std::string target;  // path and query, "/" at least
};
// Parses http://host[:port]/path or https://...; nullopt (with `why`) for anything else
// (userinfo, fragments, other schemes, bad ports).
std::optional<WebhookUrl> parse_webhook_url(std::string_view url, std::string* why = nullptr);

struct PostResult {
  std::optional<int> status;  // nullopt: no answer (error says why)
  std::string error;
  std::optional<long> retry_after_s;  // from Retry-After (seconds form)
};

// `headers`: extra lines, each "Name: value\r\n". The answer's body is read up to 64 KiB and dropped.
PostResult post_webhook(const WebhookUrl& url, const std::string& headers, std::string_view body,
                        std::chrono::milliseconds timeout);

}  // namespace wa::app::api
