// A running wasim plus a WaClient wired to an in-memory store, for the process tests.
#pragma once

#include <memory>
#include <string>

#include "core/client/wa_client.h"
#include "tests/core_client/memory_store.h"
#include "tests/sim/harness.h"

namespace wa::clienttest {

using namespace std::chrono_literals;

// Client options for `w`: its URL and root key, and timings short enough for tests.
client::ClientOptions options_for(const simtest::WasimProcess& w);

// HTTP with a JSON body (the sim harness's http_request sends none); 5 s deadline.
simtest::HttpResponse http_json(int port, const std::string& method, const std::string& target, const std::string& body);

// Number of connection records wasim's /admin/connections lists, and how many are open.
int wasim_connections(const simtest::WasimProcess& w);
int wasim_open_connections(const simtest::WasimProcess& w);

// Polls `pred` every 20 ms until true or `timeout` (for facts only visible through wasim's API).
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace wa::clienttest
