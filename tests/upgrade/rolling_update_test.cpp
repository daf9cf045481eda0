// A rolling update N -> N+1 with a migration, the way a StatefulSet does it, while messages really
// flow both ways: wasim, three `waconnector run` pods of release N and a paired account; a wasim
// virtual phone (a contact) sends to the account and the application queues outbound messages in
// the outbox, each every 100 ms, from before the migration until after the rollback.
//   - N+1 is this binary plus one expand migration (WACONN_EXTRA_MIGRATIONS_DIR, written here with
//     the next free version number), applied by N+1's `migrate` (the init container);
//   - the N pods keep running on schema N+1, stay Ready and keep their leader; an N pod whose
//     sessions are cut reconnects through the schema check and is accepted (the window: own schema
//     and the next); an N pod takes the account over (step-down) and logs in on schema N+1;
//   - the pods are replaced one at a time, highest ordinal first, each new one Ready (and the
//     account logged in again) before the next goes; at the end an N+1 pod leads;
//   - rollback: N's `migrate` succeeds without changes and an N pod runs again;
//   - every inbound message is in the inbox exactly once, every outbound one reached the phone
//     exactly once (one entry per id, one copy), the device never had two logged-in connections
//     at once (wasim's connection log);
//   - a later contract migration that needs N+1 makes an N pod refuse the database at its next
//     reconnect (NotReady, database_up 0), not only at start.
// A lost inbound message is not retried away: the test fails, names the id and keeps wasim's log,
// its connection log and every pod's log in a directory it prints.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "../app/http_client.h"
#include "cluster.h"
#include "store/migrator.h"
#include "store/outbox.h"
#include "traffic.h"

namespace wa::upgrade {
namespace {

using namespace std::chrono_literals;
using e2e::Cluster;
using hatest::http_get;
using hatest::Replica;
using hatest::wait_for;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// stdout of a command (exit status checked).
std::string run_out(const std::string& cmd) {
  INFO("command: " << cmd);
  FILE* f = popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, f) != nullptr) out += buf;
  const int rc = pclose(f);
  INFO("output: " << out);
  REQUIRE(rc == 0);
  return out;
}

bool ready(Replica& r) {
  return http_get(r.http_port(), "/ready").status == 200;
}

// The pod whose lock session holds the account's lock ("" if none).
std::string leader_of(const hatest::TestDb& db) {
  auto c = db.connect("who leads");
  auto r = c.exec("leader",
                  "SELECT coalesce(a.assigned_pod, '') FROM wa_accounts a WHERE business_id = $1"
                  " AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
                  " AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = a.lock_key)",
                  {std::string(Cluster::kAccount)});
  return r.rows() == 1 ? std::string(r.text(0, 0)) : std::string();
}

int terminate_sessions(const hatest::TestDb& db, const std::string& pod) {
  auto c = db.connect("cut a pod's sessions");
  return static_cast<int>(c.exec("terminate",
                                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                 " WHERE datname = current_database() AND application_name LIKE $1",
                                 {fmt::format("waconnector/{}/%", pod)})
                              .i64(0, 0));
}

// The first login of the device at wasim after `t` (ms epoch), or nullopt.
std::optional<std::int64_t> first_login_after(Cluster& c, const std::string& jid, std::int64_t t) {
  std::optional<std::int64_t> first;
  for (const auto& x : c.connections(jid))
    if (x.logged_in_ms && *x.logged_in_ms > t && (!first || *x.logged_in_ms < *first)) first = x.logged_in_ms;
  return first;
}

struct Sent {
  std::string id;
  int phase = 0;
  std::int64_t at_ms = 0;
};

// The two senders, every 100 ms each, tagging each message with the phase it was sent in. Joined
// on destruction, so a failed REQUIRE in the test does not leave a thread running.
class Traffic {
 public:
  Traffic(Cluster& c, std::string contact, std::string account_user) : c_(c) {
    inbound_ = std::thread([this, contact, account_user] {
      for (int k = 0; !stop_.load(); ++k) {
        const auto r =
            e2e::phone_send(c_.wasim().admin_port(), contact, account_user, fmt::format("upgrade in {}", k));
        {
          std::lock_guard<std::mutex> g(m_);
          if (r.status == 200 && !r.id.empty())
            in_.push_back({r.id, phase_.load(), now_ms()});
          else
            errors_.push_back(fmt::format("phone send {}: HTTP {} {}", k, r.status, r.reply));
        }
        std::this_thread::sleep_for(100ms);
      }
    });
    outbound_ = std::thread([this, contact] {
      std::optional<pg::Connection> conn;
      for (int k = 0; !stop_.load(); ++k) {
        try {
          if (!conn) conn.emplace(c_.db().connect("outbox writer"));
          store::EnqueueRequest req;
          req.business_id = Cluster::kAccount;
          req.recipient = e2e::user_jid_of_phone(contact);
          req.text = fmt::format("upgrade out {}", k);
          const auto id = store::enqueue(*conn, req).message.id;
          std::lock_guard<std::mutex> g(m_);
          out_.push_back({id, phase_.load(), now_ms()});
        } catch (const std::exception& e) {
          conn.reset();
          std::lock_guard<std::mutex> g(m_);
          errors_.push_back(fmt::format("outbox enqueue {}: {}", k, e.what()));
        }
        std::this_thread::sleep_for(100ms);
      }
    });
  }
  ~Traffic() { stop(); }
  Traffic(const Traffic&) = delete;
  Traffic& operator=(const Traffic&) = delete;

  void phase(int p) { phase_ = p; }
  void stop() {
    stop_ = true;
    if (inbound_.joinable()) inbound_.join();
    if (outbound_.joinable()) outbound_.join();
  }
  // After stop().
  const std::vector<Sent>& in() const { return in_; }
  const std::vector<Sent>& out() const { return out_; }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  Cluster& c_;
  std::atomic<bool> stop_{false};
  std::atomic<int> phase_{0};
  std::mutex m_;
  std::vector<Sent> in_, out_;
  std::vector<std::string> errors_;
  std::thread inbound_, outbound_;
};

void append_lines_with(std::ostream& o, const std::string& title, const std::string& log,
                       const std::string& needle) {
  std::size_t start = 0;
  while (start < log.size()) {
    auto end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    const auto line = log.substr(start, end - start);
    if (line.find(needle) != std::string::npos) o << title << ": " << line << "\n";
    start = end + 1;
  }
}

struct Lost {
  std::string id, what, phase;
  std::int64_t at_ms = 0;
};

// Keeps what explains a lost, doubled or unconfirmed message: the ids (what, phase, when sent), the
// lines that name them in every log, wasim's log and connection log and every pod's JSON log.
// Returns the directory.
std::string keep_loss_evidence(Cluster& c, const std::string& jid, const std::vector<Lost>& lost,
                               const std::vector<const Replica*>& pods) {
  const std::string dir = fmt::format("/tmp/waconn-upgrade-loss-{}-{}", getpid(), now_ms());
  std::filesystem::create_directories(dir);
  const auto wasim_log = c.wasim().log();
  std::ofstream(dir + "/wasim.log") << wasim_log;
  std::ofstream(dir + "/connections.json")
      << test::http_request(c.wasim().admin_port(), "GET", "/admin/devices/" + jid + "/connections").body;
  // wasim's pending queue says whether a stanza was acked ("d" line) or is still waiting.
  for (const auto& e : std::filesystem::directory_iterator("/tmp")) {
    const auto name = e.path().filename().string();
    if (name.rfind(fmt::format("waconn-e2e-wasim-{}-", getpid()), 0) == 0 &&
        std::filesystem::exists(e.path() / "queue.log"))
      std::filesystem::copy_file(e.path() / "queue.log", dir + "/wasim-queue.log",
                                 std::filesystem::copy_options::overwrite_existing);
  }
  std::ofstream summary(dir + "/lost.txt");
  for (const auto* p : pods) std::ofstream(fmt::format("{}/{}-{}.log", dir, p->pod(), p->pid())) << p->log();
  for (const auto& l : lost) {
    summary << fmt::format("{}: {}, sent at {} ms (phase {})\n", l.id, l.what, l.at_ms, l.phase);
    append_lines_with(summary, "wasim", wasim_log, l.id);
    for (const auto* p : pods)
      append_lines_with(summary, fmt::format("{}[{}]", p->pod(), p->pid()), p->log(), l.id);
  }
  return dir;
}

}  // namespace

TEST_CASE(
    "rolling update N -> N+1 with an expand migration while messages flow both ways - rollback - a contract "
    "beyond the window is refused at the next reconnect",
    "[pg][process][upgrade][e2e]") {
  const int n = store::latest_known_version();  // read before the extra directory is set
  const std::string bin = hatest::bin_dir() + "/waconnector";
  const std::string dir = fmt::format("/tmp/waconn-upgrade-{}", getpid());
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(fmt::format("{}/{:04d}_upgrade_drill.sql", dir, n + 1));
    f << "-- The next release's expand migration: a new table and a defaulted column.\n"
         "CREATE TABLE wa_upgrade_drill (business_id TEXT PRIMARY KEY REFERENCES wa_accounts (business_id)"
         " ON DELETE CASCADE, note TEXT NOT NULL);\n"
         "ALTER TABLE wa_outbox ADD COLUMN upgrade_drill_tag TEXT NOT NULL DEFAULT 'n';\n";
  }
  const auto t_start = std::chrono::steady_clock::now();
  Cluster c({"--poll-interval", "200ms"}, 3);
  auto& db = c.db();
  auto& pods = c.pods();
  std::vector<std::unique_ptr<Replica>> retired;  // replaced pods, kept for their logs
  const std::string jid = c.pair("+15550004001");
  // The leader uploads its pre-keys after the login; before that a phone cannot start a session.
  REQUIRE(wait_for(
      [&] {
        const int l = c.logged_in_pod();
        return l >= 0 && pods[static_cast<std::size_t>(l)]->log().find("wa_client_prekeys_uploaded") !=
                             std::string::npos;
      },
      20s));
  const std::string contact = "+15550004002";
  {
    std::string reply;
    const int st = c.admin_post("/admin/phones", fmt::format("{{\"phone\":\"{}\"}}", contact), &reply);
    INFO(reply);
    REQUIRE(st >= 200);
    REQUIRE(st < 300);
  }
  const std::vector<std::string> phases{"N",          "N, schema N+1", "roll pod-2", "roll pod-1",
                                        "roll pod-0", "N+1",           "rollback"};
  Traffic traffic(c, contact, e2e::user_jid_of_device(jid));
  struct Handover {
    std::string what;
    std::int64_t logged_in_ms = -1;
  };
  std::vector<Handover> handovers;
  // The account logs in again after `t` (a handover); returns the time it took.
  auto login_after = [&](std::int64_t t) {
    std::optional<std::int64_t> at;
    CHECK(wait_for([&] { return (at = first_login_after(c, jid, t)).has_value(); }, 30s));
    return at ? *at - t : -1;
  };
  std::this_thread::sleep_for(1500ms);

  // N+1's init container.
  traffic.phase(1);
  const std::string next_env = "WACONN_EXTRA_MIGRATIONS_DIR=" + quote(dir);
  const auto migrated =
      run_out(fmt::format("{} {} migrate --database-url {}", next_env, quote(bin), quote(db.url())));
  CHECK(migrated.find(fmt::format("applied {:04d}_upgrade_drill", n + 1)) != std::string::npos);
  {
    auto conn = db.connect("check");
    CHECK(store::current_schema_version(conn) == n + 1);
  }
  // The N pods stay Ready and the leader keeps the account.
  const std::string leader_before = leader_of(db);
  REQUIRE(!leader_before.empty());
  for (int k = 0; k < 15; ++k) {
    for (auto& p : pods) CHECK(ready(*p));
    std::this_thread::sleep_for(100ms);
  }
  CHECK(leader_of(db) == leader_before);
  // An N pod that reconnects passes the schema check (N+1 is inside its window).
  const std::string standby = leader_before == "pod-1" ? "pod-2" : "pod-1";
  CHECK(terminate_sessions(db, standby) > 0);
  auto& sb = *pods[static_cast<std::size_t>(standby.back() - '0')];
  CHECK(wait_for([&] { return ready(sb); }, 15s));
  CHECK(sb.log().find("newer than this binary") == std::string::npos);
  // An N pod takes the account over on schema N+1: it loads the device and its Signal sessions
  // from the migrated store, logs in and carries the messages.
  {
    const auto t = now_ms();
    run_out(fmt::format("{} accounts step-down --database-url {} --business-id {}", quote(bin),
                        quote(db.url()), Cluster::kAccount));
    handovers.push_back({"step-down " + leader_before + " (N to N)", login_after(t)});
    CHECK(wait_for(
        [&] {
          const auto l = leader_of(db);
          return !l.empty() && l != leader_before;
        },
        10s));
    CHECK(c.wait_logged_in(20s) >= 0);
  }
  std::this_thread::sleep_for(1500ms);

  // The rollout: highest ordinal first, each new pod Ready and the account logged in before the
  // next old one goes (minReadySeconds).
  setenv("WACONN_EXTRA_MIGRATIONS_DIR", dir.c_str(), 1);  // inherited by the N+1 pods only
  const auto t_rollout = std::chrono::steady_clock::now();
  for (int i = 2; i >= 0; --i) {
    traffic.phase(2 + (2 - i));
    auto& slot = pods[static_cast<std::size_t>(i)];
    const bool was_leader = leader_of(db) == slot->pod();
    const auto t = now_ms();
    slot->signal(SIGTERM);
    REQUIRE(slot->wait_exit(15s) == 0);
    retired.push_back(std::move(slot));
    slot = std::make_unique<Replica>(fmt::format("pod-{}", i), c.args());
    REQUIRE(wait_for([&] { return ready(*slot); }, 20s));
    CHECK(slot->log().find("extra_migration_loaded") != std::string::npos);
    if (was_leader) handovers.push_back({fmt::format("roll of leader pod-{}", i), login_after(t)});
    REQUIRE(c.wait_logged_in(30s) >= 0);
    std::this_thread::sleep_for(1s);
  }
  unsetenv("WACONN_EXTRA_MIGRATIONS_DIR");
  const auto rollout_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t_rollout)
          .count();
  traffic.phase(5);
  const int leader_after = c.wait_logged_in(20s);
  REQUIRE(leader_after >= 0);
  INFO("leader after the rollout: " << pods[static_cast<std::size_t>(leader_after)]->pod());
  // Every pod is N+1 now, and the leader is one of them (its log shows the N+1 schema).
  CHECK(pods[static_cast<std::size_t>(leader_after)]->log().find("extra_migration_loaded") !=
        std::string::npos);
  std::this_thread::sleep_for(1500ms);

  // Rollback: N's init container succeeds and changes nothing; an N pod runs beside the N+1 ones.
  traffic.phase(6);
  const auto back = run_out(fmt::format("{} migrate --database-url {}", quote(bin), quote(db.url())));
  CHECK(back.find("inside its compatibility window; nothing to do") != std::string::npos);
  Replica old_again("pod-old", c.args());
  CHECK(wait_for([&] { return ready(old_again); }, 20s));
  std::this_thread::sleep_for(1s);
  traffic.stop();

  // Every message arrives, once: the inbox, the phone's view and the outbox rows' statuses.
  const auto& in = traffic.in();
  const auto& out = traffic.out();
  std::map<std::string, int> in_count, out_count;
  std::map<std::string, long> out_copies;
  std::map<std::string, bool> delivered;
  std::string error;
  const auto tally = [&] {
    auto rows = e2e::inbox(db.url(), Cluster::kAccount, &error);
    auto got = e2e::phone_messages(c.wasim().admin_port(), contact, &error);
    if (!rows || !got) return false;
    in_count.clear();
    out_count.clear();
    out_copies.clear();
    delivered.clear();
    for (const auto& r : *rows) ++in_count[r.id];
    for (const auto& m : *got) {
      ++out_count[m.id];
      out_copies[m.id] += m.copies;
      if (!m.error.empty()) error = "the phone could not decrypt " + m.id + ": " + m.error;
    }
    auto conn = db.connect("outbox statuses");
    auto r =
        conn.exec("delivered", "SELECT id FROM wa_outbox WHERE business_id = $1 AND status = 'delivered'",
                  {std::string(Cluster::kAccount)});
    for (int i = 0; i < r.rows(); ++i) delivered[std::string(r.text(i, 0))] = true;
    return true;
  };
  const auto complete = [&] {
    if (!tally()) return false;
    for (const auto& s : in)
      if (in_count[s.id] == 0) return false;
    for (const auto& s : out)
      if (out_count[s.id] == 0 || !delivered[s.id]) return false;
    return true;
  };
  if (wait_for(complete, 20s)) std::this_thread::sleep_for(1s);  // a duplicate would show up now
  REQUIRE(tally());
  INFO("last listing error: " << error);

  struct Anomaly {
    Sent sent;
    std::string what;
  };
  std::vector<Anomaly> anomalies;
  std::vector<int> in_sent(phases.size()), in_once(phases.size()), out_sent(phases.size()),
      out_once(phases.size()), out_resent(phases.size()), out_delivered(phases.size());
  for (const auto& s : in) {
    const auto p = static_cast<std::size_t>(s.phase);
    ++in_sent[p];
    if (in_count[s.id] == 1) ++in_once[p];
    if (in_count[s.id] != 1)
      anomalies.push_back({s, fmt::format("inbound, {} times in the inbox", in_count[s.id])});
  }
  for (const auto& s : out) {
    const auto p = static_cast<std::size_t>(s.phase);
    ++out_sent[p];
    if (out_count[s.id] == 1) ++out_once[p];
    if (out_copies[s.id] > 1) ++out_resent[p];
    if (delivered[s.id]) ++out_delivered[p];
    // One entry per id is what the phone's user sees. A resend with the same id (copies 2: the
    // old leader sent it and stopped before the server's ack; the next one sends it again) is
    // counted, not failed: WhatsApp's apps show it once.
    if (out_count[s.id] != 1)
      anomalies.push_back(
          {s, fmt::format("outbound, {} times on the phone, {} copies", out_count[s.id], out_copies[s.id])});
    else if (!delivered[s.id])
      anomalies.push_back({s, "outbound, on the phone once but its delivery receipt never came back"});
  }
  // Catch wraps at 80 columns: one short line per phase.
  std::string table = "  phase          in: sent once | out: queued once resent delivered\n";
  for (std::size_t p = 0; p < phases.size(); ++p)
    table += fmt::format("  {:<14} {:>8} {:>4} | {:>11} {:>4} {:>6} {:>9}\n", phases[p], in_sent[p],
                         in_once[p], out_sent[p], out_once[p], out_resent[p], out_delivered[p]);
  for (const auto& h : handovers)
    table += fmt::format("  {}: logged in after {} ms\n", h.what, h.logged_in_ms);
  const auto conns = c.connections(jid);
  const auto overlap = e2e::overlap_ms(conns);
  WARN(fmt::format(
      "rolling update N={} -> N+1={}: rollout {} ms, whole test {} ms, {} logins at wasim, overlap {} ms\n{}",
      n, n + 1, rollout_ms,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t_start)
          .count(),
      std::count_if(conns.begin(), conns.end(), [](const auto& x) { return x.logged_in_ms.has_value(); }),
      overlap, table));
  if (!anomalies.empty()) {
    std::vector<const Replica*> all;
    for (const auto& p : retired) all.push_back(p.get());
    for (const auto& p : pods) all.push_back(p.get());
    all.push_back(&old_again);
    std::vector<Lost> lost;
    for (const auto& a : anomalies)
      lost.push_back({a.sent.id, a.what, phases[static_cast<std::size_t>(a.sent.phase)], a.sent.at_ms});
    WARN("evidence kept in " << keep_loss_evidence(c, jid, lost, all));
  }
  for (const auto& e : traffic.errors()) {
    INFO(e);
    CHECK(false);  // a sender failed: that message is not in the counts
  }
  CHECK(in.size() > 50);
  CHECK(out.size() > 50);
  for (const auto& a : anomalies) {
    INFO(a.sent.id << " sent in phase " << phases[static_cast<std::size_t>(a.sent.phase)] << ": " << a.what);
    CHECK(false);
  }
  CHECK(overlap == 0);

  // A contract migration that needs N+1: the running N pod is refused at its next reconnect.
  {
    auto conn = db.connect("contract");
    conn.exec("a contract migration",
              "INSERT INTO wa_schema_migrations (version, name, checksum, requires_binary)"
              " VALUES ($1::int, 'drop_what_n_used', 'x', $2::int)",
              {n + 2, n + 1});
  }
  CHECK(ready(old_again));  // nothing re-read yet: the check runs on (re)connect
  CHECK(terminate_sessions(db, "pod-old") > 0);
  CHECK(wait_for([&] { return http_get(old_again.http_port(), "/ready").status == 503; }, 15s));
  CHECK(wait_for(
      [&] { return old_again.log().find("outside its compatibility window") != std::string::npos; }, 15s));
  INFO("/ready: " << http_get(old_again.http_port(), "/ready").body);
  CHECK(wait_for(
      [&] {
        return http_get(old_again.http_port(), "/metrics").body.find("\nwaconnector_database_up 0\n") !=
               std::string::npos;
      },
      10s));
  for (auto& p : pods) CHECK(ready(*p));  // N+1 pods: their own schema is inside the window
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace wa::upgrade
