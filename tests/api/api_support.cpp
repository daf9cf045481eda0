#include "api_support.h"

#include "app/api/request_json.h"
#include "app/api/routes.h"
#include "app/status_json.h"
#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/tokens.h"

namespace wa::test {

ApiFixture::ApiFixture() {
  auto c = db.connect();
  store::add_account(c, "biz-a", std::nullopt);
  store::add_account(c, "biz-b", std::nullopt);
  token_a = store::create_token(c, "biz-a", "a").secret_token;
  token_b = store::create_token(c, "biz-b", "b").secret_token;
  app::HttpOptions o;
  o.max_body_bytes = app::api::kMaxBodyBytes;
  app::HttpHandlers h;
  h.live = [] { return true; };
  const app::PodStatus pod{.pod = "pod-0", .version = "0.1.0", .db_reachable = true, .db_writable = true,
                           .elector_running = true, .accounts = {}, .share = {}};
  h.ready = [pod] { return app::evaluate_ready(pod); };
  h.status_json = [pod] { return app::render_status_json(pod); };
  h.metrics = &metrics;
  server = std::make_unique<app::HttpServer>("127.0.0.1", 0, h, o);
  pool = std::make_shared<store::ConnectionPool>(db.url(), "test/api", 4);
  app::api::EventStreamOptions so;
  so.max_streams = 3;
  so.heartbeat = std::chrono::milliseconds(300);
  so.poll = std::chrono::milliseconds(500);
  so.batch = 4;  // small, so a catch-up takes several reads
  hub = std::make_unique<store::NotifyHub>(store::NotifyHubOptions{db.url(), "test/notify"});
  events = std::make_shared<app::api::EventStreams>(*hub, pool, so);
  app::api::register_api_routes(*server, std::make_shared<const app::api::Api>(pool, admin, events));
}

ApiFixture::~ApiFixture() { server.reset(); }

HttpResult ApiFixture::call(const std::string& method, const std::string& target, const std::string& body,
                            const std::string& token, const std::string& extra_headers) {
  std::string headers = extra_headers;
  if (!token.empty()) headers += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty()) headers += "Content-Type: application/json\r\n";
  auto r = http_request(server->port(), method, target, body, headers);
  const auto q = target.find('?');
  recorded.push_back({method, target.substr(0, q), r.status, r.headers["content-type"], r.body});
  return r;
}

}  // namespace wa::test
