// wasim: a WhatsApp Web server simulator for tests and drills.
//   wasim --listen HOST:PORT --admin HOST:PORT --state DIR
// Port 0 picks a free port; the "wasim_listening" log line names the ports actually bound.
#include <asio.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "common/log.h"
#include "sim/simulator.h"

namespace {

constexpr const char* kUsage =
    "usage: wasim --listen HOST:PORT --admin HOST:PORT --state DIR\n"
    "  --listen HOST:PORT  WebSocket endpoint (ws://HOST:PORT/ws/chat); port 0 = ephemeral\n"
    "  --admin HOST:PORT   admin API (HTTP+JSON: /admin/root-key, /admin/health, /admin/connections)\n"
    "  --state DIR         state directory (root key, device registry); created if missing\n"
    "  --handshake-timeout-ms N  close connections that have not finished the Noise handshake\n"
    "                      N ms after the upgrade (default 20000, as clients wait)\n"
    "  --qr-ttl-first MS   how long the first pair-device ref is live (default 60000, as WhatsApp)\n"
    "  --qr-ttl MS         how long each later ref is live (default 20000)\n"
    "  --addressing auto|lid|pn  how 1:1 and group messages name accounts: lid (as WhatsApp today),\n"
    "                      pn (phone numbers only), auto (default: pn for dictionary-2 clients such as\n"
    "                      Baileys 6, which have no LID support; lid for everyone else)\n"
    "  --first-stanza-delay-ms MS  delay from the handshake to the first stanza (pair-device, success,\n"
    "                      failure); default 20: Baileys 6 drops a stanza that beats its ClientFinish write\n"
    "Logs are JSON lines on stderr. SIGTERM/SIGINT stop it gracefully.\n";

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "wasim: " << msg << "\n" << kUsage;
  std::exit(2);
}

std::pair<std::string, int> host_port(const std::string& flag, const std::string& v) {
  auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0) usage_error("--" + flag + " must be HOST:PORT, got '" + v + "'");
  std::string host = v.substr(0, colon);
  std::string port_s = v.substr(colon + 1);
  if (port_s.empty() || port_s.size() > 5 || port_s.find_first_not_of("0123456789") != std::string::npos)
    usage_error("--" + flag + " port must be a number 0-65535, got '" + port_s + "'");
  int port = std::stoi(port_s);
  if (port > 65535) usage_error("--" + flag + " port must be 0-65535, got " + port_s);
  asio::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) usage_error("--" + flag + " host must be an IP address, got '" + host + "'");
  return {host, port};
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (a.rfind("--", 0) != 0) usage_error("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= argc) usage_error("--" + name + " needs a value");
      value = argv[++i];
    }
    if (name != "listen" && name != "admin" && name != "state" && name != "handshake-timeout-ms" &&
        name != "qr-ttl-first" && name != "qr-ttl" && name != "first-stanza-delay-ms" && name != "addressing")
      usage_error("unknown flag --" + name);
    if (!flags.emplace(name, value).second) usage_error("--" + name + " given twice");
  }
  for (const char* req : {"listen", "admin", "state"})
    if (!flags.count(req)) usage_error(std::string("--") + req + " is required");

  wa::sim::SimulatorConfig cfg;
  std::tie(cfg.listen_host, cfg.listen_port) = host_port("listen", flags["listen"]);
  std::tie(cfg.admin_host, cfg.admin_port) = host_port("admin", flags["admin"]);
  cfg.state_dir = flags["state"];
  if (cfg.state_dir.empty()) usage_error("--state must not be empty");
  if (flags.count("handshake-timeout-ms")) {
    const auto& v = flags["handshake-timeout-ms"];
    if (v.empty() || v.size() > 7 || v.find_first_not_of("0123456789") != std::string::npos || std::stol(v) < 1)
      usage_error("--handshake-timeout-ms must be an integer 1-9999999, got '" + v + "'");
    cfg.handshake_timeout = std::chrono::milliseconds(std::stol(v));
  }

  auto millis = [&](const char* flag, long min, std::chrono::milliseconds& out) {
    if (!flags.count(flag)) return;
    const auto& v = flags[flag];
    if (v.empty() || v.size() > 7 || v.find_first_not_of("0123456789") != std::string::npos || std::stol(v) < min)
      usage_error(std::string("--") + flag + " must be an integer " + std::to_string(min) + "-9999999, got '" + v + "'");
    out = std::chrono::milliseconds(std::stol(v));
  };
  millis("qr-ttl-first", 1, cfg.qr_ttl_first);
  millis("qr-ttl", 1, cfg.qr_ttl);
  millis("first-stanza-delay-ms", 0, cfg.first_stanza_delay);
  if (flags.count("addressing")) {
    cfg.addressing = flags["addressing"];
    if (cfg.addressing != "auto" && cfg.addressing != "lid" && cfg.addressing != "pn")
      usage_error("--addressing must be auto, lid or pn, got '" + cfg.addressing + "'");
  }

  try {
    asio::io_context io;
    // One socket per device connection: use the whole file-descriptor allowance (thousands of
    // devices on one wasim).
    if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    wa::sim::Simulator sim(io, cfg);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const asio::error_code& ec, int sig) {
      if (ec) return;
      wa::log::info("wasim_shutdown").kv("signal", sig);
      sim.stop();
    });
    sim.start();
    io.run();
    wa::log::info("wasim_stopped");
  } catch (const std::exception& e) {
    wa::log::error("wasim_failed").kv("error", e.what());
    return 1;
  }
  return 0;
}
