#include "cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "../app/http_client.h"
#include "core/binary/json.h"
#include "store/tokens.h"

namespace wa::e2e {
namespace {

// A timestamp field: null, absent or 0 all mean "not (yet)".
std::optional<std::int64_t> num(const binary::Json* j) {
  if (j == nullptr || j->type != binary::Json::Type::number) return std::nullopt;
  const auto v = static_cast<std::int64_t>(std::stod(j->text));
  if (v <= 0) return std::nullopt;
  return v;
}

std::string str(const binary::Json* j) {
  if (j == nullptr || j->type != binary::Json::Type::string) return {};
  return j->text;
}

// The value of "key":<int> after the last line containing `event` in a JSON-lines log.
std::optional<std::string> log_field(const std::string& log, const std::string& event, const std::string& key) {
  const auto at = log.find("\"event\":\"" + event + "\"");
  if (at == std::string::npos) return std::nullopt;
  const auto line_end = log.find('\n', at);
  const auto line_start = log.rfind('\n', at);
  const auto line = log.substr(line_start == std::string::npos ? 0 : line_start + 1,
                               (line_end == std::string::npos ? log.size() : line_end) -
                                   (line_start == std::string::npos ? 0 : line_start + 1));
  try {
    auto j = binary::parse_json(line);
    const auto* v = j.find(key);
    if (v == nullptr) return std::nullopt;
    return v->text;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

Wasim::Wasim() {
  static std::atomic<int> seq{0};
  dir_ = fmt::format("/tmp/waconn-e2e-wasim-{}-{}", getpid(), seq++);
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
  log_path_ = dir_ + ".log";
  const std::string bin = hatest::bin_dir() + "/wasim";
  REQUIRE(std::filesystem::exists(bin));
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 2);
      dup2(fd, 1);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execl(bin.c_str(), bin.c_str(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--state", dir_.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(pid_ > 0);
  REQUIRE(hatest::wait_for(
      [&] {
        const auto l = log();
        auto ws = log_field(l, "wasim_listening", "ws_port");
        auto admin = log_field(l, "wasim_listening", "admin_port");
        auto root = log_field(l, "wasim_root_key", "root_public_key");
        if (!ws || !admin || !root) return false;
        ws_port_ = std::atoi(ws->c_str());
        admin_port_ = std::atoi(admin->c_str());
        root_hex_ = *root;
        return ws_port_ > 0 && admin_port_ > 0;
      },
      10s));
}

Wasim::~Wasim() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Wasim::ws_url() const { return fmt::format("ws://127.0.0.1:{}/ws/chat", ws_port_); }

std::string Wasim::log() const {
  std::ifstream f(log_path_);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Cluster::Cluster(std::vector<std::string> extra, int replicas, bool through_proxy) {
  db_.add_account(kAccount);
  std::string url = wasim_.ws_url();
  if (through_proxy) {
    proxy_ = std::make_unique<ByteProxy>(wasim_.ws_port());
    url = fmt::format("ws://127.0.0.1:{}/ws/chat", proxy_->port());
  }
  args_ = {"--database-url", db_.url(), "--business-id", kAccount, "--wa-url", url, "--wa-root-key",
           wasim_.root_key_hex()};
  args_.insert(args_.end(), extra.begin(), extra.end());
  for (int i = 0; i < replicas; ++i) add_pod();
}

hatest::Replica& Cluster::add_pod() {
  pods_.push_back(std::make_unique<hatest::Replica>(fmt::format("pod-{}", pods_.size()), args_));
  return *pods_.back();
}

AccountRow Cluster::account() {
  auto c = db_.connect("read account");
  auto r = c.exec("read account",
                  "SELECT status, jid, qr_code, assigned_pod, disconnect_reason, failover_count, session_restore_count,"
                  " lease_epoch, (extract(epoch FROM last_connected_at) * 1000)::bigint"
                  " FROM wa_accounts WHERE business_id = $1",
                  {std::string(kAccount)});
  REQUIRE(r.rows() == 1);
  AccountRow a;
  a.status = std::string(r.text(0, 0));
  a.jid = r.opt(0, 1);
  a.qr_code = r.opt(0, 2);
  a.assigned_pod = r.opt(0, 3);
  a.disconnect_reason = r.opt(0, 4);
  a.failover_count = r.i64(0, 5);
  a.session_restore_count = r.i64(0, 6);
  a.lease_epoch = r.i64(0, 7);
  if (!r.is_null(0, 8)) a.last_connected_at_ms = r.i64(0, 8);
  return a;
}

std::string Cluster::status_of(int i) {
  auto& p = *pods_[static_cast<std::size_t>(i)];
  if (!p.running()) return {};
  const int port = p.http_port(2s);
  if (port <= 0) return {};
  return hatest::http_get(port, "/status").body;
}

int Cluster::logged_in_pod() {
  for (std::size_t i = 0; i < pods_.size(); ++i) {
    const auto s = status_of(static_cast<int>(i));
    if (s.find("\"connection\":\"logged_in\"") != std::string::npos &&
        (s.find("\"role\":\"active\"") != std::string::npos || s.find("\"role\":\"leader\"") != std::string::npos))
      return static_cast<int>(i);
  }
  return -1;
}

int Cluster::leading_pod() {
  for (std::size_t i = 0; i < pods_.size(); ++i) {
    const auto s = status_of(static_cast<int>(i));
    if (s.find("\"role\":\"active\"") != std::string::npos || s.find("\"role\":\"leader\"") != std::string::npos)
      return static_cast<int>(i);
  }
  return -1;
}

int Cluster::admin_post(const std::string& path, const std::string& json_body, std::string* reply) {
  auto r = test::http_request(wasim_.admin_port(), "POST", path, json_body, "Content-Type: application/json\r\n");
  if (reply) *reply = r.body;
  return r.status;
}

std::vector<WasimConnection> Cluster::connections(const std::string& jid) {
  auto r = test::http_request(wasim_.admin_port(), "GET", "/admin/devices/" + jid + "/connections");
  INFO("GET /admin/devices/{jid}/connections -> " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  auto j = binary::parse_json(r.body);
  const binary::Json* list = &j;
  if (j.type == binary::Json::Type::object) list = j.find("connections");
  REQUIRE(list != nullptr);
  REQUIRE(list->type == binary::Json::Type::array);
  std::vector<WasimConnection> out;
  for (const auto& c : list->items) {
    WasimConnection w;
    w.opened_ms = num(c.find("opened_ms")).value_or(0);
    w.logged_in_ms = num(c.find("logged_in_ms"));
    w.closed_ms = num(c.find("closed_ms"));
    w.close_reason = str(c.find("close_reason"));
    out.push_back(w);
  }
  return out;
}

int Cluster::wait_logged_in(std::chrono::milliseconds timeout, int not_pod) {
  int found = -1;
  hatest::wait_for(
      [&] {
        found = logged_in_pod();
        return found >= 0 && found != not_pod;
      },
      timeout);
  return found != not_pod ? found : -1;
}

std::string Cluster::pair(const std::string& phone) {
  // The leader connects and publishes the QR in wa_accounts; a standby serves it.
  int leader = -1;
  REQUIRE(hatest::wait_for(
      [&] {
        leader = leading_pod();
        return leader >= 0 && account().qr_code.has_value();
      },
      30s));
  const int standby = leader == 0 ? 1 : 0;
  const int port = pods_[static_cast<std::size_t>(standby)]->http_port();
  // The QR endpoint needs the account's API token.
  auto tc = db_.connect("create API token");
  const auto auth = "Authorization: Bearer " + store::create_token(tc, kAccount, "e2e").secret_token + "\r\n";
  std::string qr;
  REQUIRE(hatest::wait_for(
      [&] {
        auto r = test::http_request(port, "GET", std::string("/v1/accounts/") + kAccount + "/qr", {}, auth);
        if (r.status != 200) return false;
        auto j = binary::parse_json(r.body);
        qr = str(j.find("qr"));
        return !qr.empty();
      },
      10s));
  std::string reply;
  const int created = admin_post("/admin/phones", fmt::format("{{\"phone\":\"{}\"}}", phone), &reply);
  INFO("POST /admin/phones -> " << created << " " << reply);
  REQUIRE(created >= 200);
  REQUIRE(created < 300);
  std::string body = "{\"qr\":";
  binary::append_json_string(body, qr);
  body += "}";
  const int linked = admin_post("/admin/phones/" + phone + "/link", body, &reply);
  INFO("POST /admin/phones/{phone}/link -> " << linked << " " << reply);
  REQUIRE(linked >= 200);
  REQUIRE(linked < 300);
  REQUIRE(wait_logged_in(30s) >= 0);
  // The pod reports logged_in a moment before its registry write of 'connected' commits (the
  // row says 'authenticated' from the pairing until then).
  AccountRow a;
  CHECK(hatest::wait_for([&] { return (a = account()).status == "connected"; }, 10s));
  REQUIRE(a.jid.has_value());
  return *a.jid;
}

std::int64_t overlap_ms(const std::vector<WasimConnection>& list) {
  std::vector<WasimConnection> logins;
  for (const auto& c : list)
    if (c.logged_in_ms) logins.push_back(c);
  std::sort(logins.begin(), logins.end(), [](auto& a, auto& b) { return *a.logged_in_ms < *b.logged_in_ms; });
  std::int64_t total = 0;
  for (std::size_t i = 1; i < logins.size(); ++i) {
    // A connection still open overlaps everything after it.
    const auto prev_end = logins[i - 1].closed_ms.value_or(INT64_MAX);
    total += std::max<std::int64_t>(0, std::min(prev_end, logins[i].closed_ms.value_or(INT64_MAX)) - *logins[i].logged_in_ms);
  }
  return total;
}

}  // namespace wa::e2e
