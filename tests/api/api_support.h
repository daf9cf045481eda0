// A running API on a fresh database: two registered businesses (biz-a, biz-b) with a token each,
// the admin token, and an HTTP server with the /v1 routes. Every call is recorded so the OpenAPI
// test can check the answers against docs/openapi.yaml.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/api/event_stream.h"
#include "app/http_server.h"
#include "store/connection_pool.h"
#include "store/notify_hub.h"
#include "common/metrics.h"
#include "tests/app/http_client.h"
#include "tests/store/test_db.h"

namespace wa::test {

struct RecordedCall {
  std::string method;
  std::string path;  // without the query
  int status = 0;
  std::string content_type;
  std::string body;
};

class ApiFixture {
 public:
  ApiFixture();
  ~ApiFixture();

  HttpResult call(const std::string& method, const std::string& target, const std::string& body = {},
                  const std::string& token = {}, const std::string& extra_headers = {});

  TestDatabase db;
  std::unique_ptr<store::NotifyHub> hub;  // before `events`, which subscribes to it
  std::shared_ptr<store::ConnectionPool> pool;
  Metrics metrics;
  const std::string admin = "test-admin-token-0123456789abcdefghij";
  std::string token_a, token_b;
  std::unique_ptr<app::HttpServer> server;
  std::shared_ptr<app::api::EventStreams> events;  // max 3 streams, 300 ms heartbeat
  std::vector<RecordedCall> recorded;
};

}  // namespace wa::test
