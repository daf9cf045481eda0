// The probes' own listener: /health, /ready, /metrics and /status on a port of their own, served by
// one thread that never waits on a client. civetweb ties a worker to each connection from accept
// until the request is read, so a few idle, slow-drip or held sockets on the API port would hold
// every worker and push the liveness probe past its timeout (a restart of a healthy leader). Here
// every socket is non-blocking and multiplexed with poll(): a connection that sends nothing costs
// a slot, not a thread, and is closed at its deadline; when the slots run out the oldest
// connection is evicted, so a new probe always gets in.
//
// Only GET/HEAD of a small request line and headers is understood (that is all a probe or a
// scraper sends); bodies are not read; every answer closes the connection. Handlers run on the
// listener's thread: they must be quick and must not block on the network or the database.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "app/http_server.h"

namespace wa::app {

struct ProbeListenerOptions {
  std::size_t max_connections = 128;               // open client sockets; the oldest is evicted
  std::size_t max_request_bytes = 4096;            // request line + headers
  std::chrono::milliseconds request_timeout{1000};  // from accept to the complete request
  std::chrono::milliseconds write_timeout{2000};    // from the complete request to the answer sent
};

// (method, path) -> response. Called on the listener's thread.
using ProbeHandler = std::function<HttpResponse(const std::string& method, const std::string& path)>;

class ProbeListener {
 public:
  // Binds host:port (0 = ephemeral) and starts the thread. Throws std::runtime_error naming the
  // address and the reason when it cannot bind.
  ProbeListener(const std::string& host, int port, ProbeHandler handler, ProbeListenerOptions options = {});
  ~ProbeListener();  // stops the thread and closes every socket
  ProbeListener(const ProbeListener&) = delete;
  ProbeListener& operator=(const ProbeListener&) = delete;

  int port() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace wa::app
