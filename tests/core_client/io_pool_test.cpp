// WaClients on one shared io pool (socket::IoPool): threads do not grow with clients, and clients
// destroyed with work still queued on the pool leave nothing behind that runs (ASan/UBSan run this).
#include <catch2/catch.hpp>

#include <dirent.h>

#include "tests/core_client/wasim_fixture.h"

using namespace wa::clienttest;
using wa::client::WaClient;
using wa::core::ConnectionState;
using wa::simtest::TempDir;
using wa::simtest::WasimProcess;

namespace {

int thread_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}

}  // namespace

TEST_CASE("forty clients on a two-thread io pool: threads stay the pool's, every client reaches pairing", "[client][wasim][pool]") {
  TempDir dir;
  WasimProcess w(dir.path());
  auto pool = std::make_shared<wa::socket::IoPool>(2, "test");
  CHECK(pool->size() == 2);
  constexpr int kClients = 40;
  int before = 0;
  std::vector<std::unique_ptr<MemoryStore>> stores;
  std::vector<std::unique_ptr<EventLog>> logs;
  std::vector<std::unique_ptr<WaClient>> clients;
  auto o = options_for(w);
  o.io_pool = pool;
  for (int i = 0; i < kClients; ++i) {
    stores.push_back(std::make_unique<MemoryStore>());
    logs.push_back(std::make_unique<EventLog>());
    clients.push_back(std::make_unique<WaClient>("biz-pool-" + std::to_string(i), o, stores.back()->make(),
                                                 logs.back()->events()));
    clients.back()->start();
    // Counted once the first client is connected: asio's resolver adds one thread per io_context
    // at its first lookup (not per client).
    if (i == 0) {
      REQUIRE(logs.back()->wait_state(ConnectionState::pairing, 20s));
      before = thread_count();
    }
  }
  for (auto& l : logs) REQUIRE(l->wait_state(ConnectionState::pairing, 20s));
  CHECK(thread_count() == before);
  CHECK(wasim_open_connections(w) == kClients);
  // Half destroyed at once while their QR timers and sockets are live; the others keep going.
  for (int i = 0; i < kClients; i += 2) clients[i].reset();
  CHECK(eventually([&] { return wasim_open_connections(w) == kClients / 2; }, 10s));
  for (int i = 1; i < kClients; i += 2) CHECK(clients[i]->state() == ConnectionState::pairing);
  clients.clear();
  CHECK(eventually([&] { return wasim_open_connections(w) == 0; }, 10s));
  CHECK(thread_count() == before);
}

TEST_CASE("clients started and destroyed at once, over and over, on a shared pool", "[client][pool]") {
  auto pool = std::make_shared<wa::socket::IoPool>(2, "test");
  wa::client::ClientOptions o;
  o.url = "ws://127.0.0.1:1/ws/chat";  // refused: the client reconnects on a 1 ms backoff
  o.backoff_initial = 1ms;
  o.backoff_max = 2ms;
  o.io_pool = pool;
  MemoryStore store;
  for (int round = 0; round < 200; ++round) {
    EventLog log;
    WaClient c("biz-churn", o, store.make(), log.events());
    c.start();
    if (round % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200 * (round % 7)));
    if (round % 2 == 0) c.stop(wa::core::DisconnectReason::lock_lost);
  }
  // The pool still serves: a posted handler runs.
  std::promise<void> ran;
  asio::post(pool->context(), [&] { ran.set_value(); });
  CHECK(ran.get_future().wait_for(5s) == std::future_status::ready);
}
