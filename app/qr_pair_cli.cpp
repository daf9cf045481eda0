#include "app/qr_pair_cli.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "app/cli_database.h"
#include "app/flags.h"
#include "app/qr_render.h"
#include "common/log.h"
#include "common/mask.h"
#include "common/phone.h"
#include "common/utc_time.h"
#include "store/accounts.h"
#include "store/notify.h"
#include "store/pairing.h"
#include "store/pg.h"

namespace wa::app {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The QR is re-read this often; rotations come every 20 s, so the redraw is prompt enough.
constexpr milliseconds kPollInterval{250};
// How long a pair-code request may wait for the leader before the CLI gives up on it.
constexpr milliseconds kPairCodeAnswerTimeout{60000};

std::string clock_text(std::int64_t ms) {
  return format_utc(ms, "%H:%M:%S");
}

bool is_paired(const store::PairingState& s) {
  return s.jid && (s.status == "authenticated" || s.status == "connected");
}

int report_paired(const store::PairingState& s) {
  std::cout << fmt::format("paired: business {} is {} (status {})\n", s.business_id, mask_jid(*s.jid), s.status)
            << std::flush;
  return 0;
}

// Shows each new QR until paired or the deadline. Returns the exit code.
int follow_pairing(pg::Connection& conn, const std::string& business_id, Clock::time_point deadline, bool tty,
                   bool show_qr) {
  std::optional<std::string> shown;
  bool said_waiting = false;
  int count = 0;
  std::string last_status;
  for (;;) {
    const auto s = store::read_pairing_state(conn, business_id);
    if (!s) {
      std::cerr << fmt::format("waconnector: business {} is no longer registered\n", business_id);
      return 1;
    }
    last_status = s->status;
    if (is_paired(*s)) return report_paired(*s);
    if (s->status == "logged_out" || s->status == "failed") {
      std::cerr << fmt::format("waconnector: business {} is {} while pairing; see 'accounts list --json'\n",
                               business_id, s->status);
      return 1;
    }
    if (show_qr && s->qr && s->qr != shown) {
      const auto matrix = encode_qr(*s->qr);
      ++count;
      if (tty) std::cout << "\x1b[2J\x1b[H";  // redraw in place on a terminal
      std::cout << fmt::format("Scan with WhatsApp: Settings > Linked devices > Link a device. QR {} for business {}",
                               count, business_id);
      if (s->expires_at_ms) std::cout << fmt::format(", valid until {}Z", clock_text(*s->expires_at_ms));
      std::cout << ":\n" << render_terminal(matrix) << std::flush;
      shown = s->qr;
      said_waiting = false;
    } else if (show_qr && !s->qr && !said_waiting) {
      std::cout << fmt::format("waiting for the leader of business {} to publish a QR (status {})...\n", business_id,
                               s->status)
                << std::flush;
      said_waiting = true;
      shown.reset();
    }
    const auto now = Clock::now();
    if (now >= deadline) break;
    std::this_thread::sleep_for(std::min<Clock::duration>(kPollInterval, deadline - now));
  }
  std::cerr << fmt::format("waconnector: business {} was not paired in time (status {})\n", business_id, last_status);
  return 1;
}

// Inserts the request and waits for the leader's answer. Returns the code or nullopt (printed why).
std::optional<std::string> request_pair_code(pg::Connection& conn, const std::string& business_id,
                                             const std::string& digits, bool push, Clock::time_point deadline) {
  store::listen(conn, store::kPairCodeAnswerChannel);
  // The request is read back by id: under row-level security only within its business.
  pg::TenantScope tenant(conn, business_id);
  const auto id = store::insert_pair_code_request(conn, business_id, digits, push);
  std::cout << fmt::format("requested a pair code for {} (business {}, request {}); waiting for the leader...\n",
                           mask_phone("+" + digits), business_id, id)
            << std::flush;
  const auto answer_deadline = std::min(deadline, Clock::now() + kPairCodeAnswerTimeout);
  for (;;) {
    const auto q = store::get_pair_code_request(conn, id);
    if (!q) {
      std::cerr << fmt::format("waconnector: pair-code request {} disappeared (account deleted?)\n", id);
      return std::nullopt;
    }
    if (q->state == "answered" && q->code) return q->code;
    if (q->state == "failed") {
      std::cerr << fmt::format("waconnector: the leader could not get a pair code: {}\n", q->error.value_or("unknown"));
      return std::nullopt;
    }
    const auto now = Clock::now();
    if (now >= answer_deadline) {
      store::withdraw_pair_code_request(conn, id, "the CLI stopped waiting");
      std::cerr << fmt::format(
          "waconnector: no leader answered the pair-code request for business {} in time (is a pod running and "
          "the account unpaired?)\n",
          business_id);
      return std::nullopt;
    }
    // NOTIFY wakes us at once; the poll interval covers a missed notification.
    store::wait_for_notify(conn, std::min<milliseconds>(
                              milliseconds(1000), std::chrono::duration_cast<milliseconds>(answer_deadline - now)));
  }
}

}  // namespace

std::optional<std::string> pair_phone_digits_for_request(std::string_view phone, std::string& error) {
  return wa::phone_digits(phone, &error);  // the one rule (common/phone.h)
}

std::string format_pair_code(std::string_view code) {
  if (code.size() != 8) return std::string(code);
  return fmt::format("{}-{}", code.substr(0, 4), code.substr(4));
}

int accounts_pair(int argc, char** argv) {
  Flags f("waconnector accounts pair",
          "Pair an account with a phone. Without --phone: shows the QR the account's leader publishes, redrawn on "
          "every rotation, until paired or --timeout. With --phone: asks the leader for a pair code and prints it "
          "(type it on the phone under Linked devices > Link with phone number instead), then waits for the "
          "pairing. Needs a running pod ('waconnector run') that serves the account.",
          {database_url_flag(),
           business_id_flag(),
           {"phone", "WACONN_PAIR_PHONE", "request a pair code for this phone number (+CC..., country code first)", ""},
           {"timeout", "WACONN_PAIR_TIMEOUT", "give up when not paired after this long", "5m"},
           {"no-push", "", "with --phone: do not ask WhatsApp to show a notification on the phone", "", true},
           {"relink", "", "make a logged-out account pairable again first (drops its old jid and device keys)", "",
            true}});
  if (!f.parse(argc, argv)) return 0;
  const auto business_id = checked_business_id(f);
  std::optional<std::string> digits;
  if (const auto phone = f.get("phone")) {
    std::string err;
    digits = pair_phone_digits_for_request(*phone, err);
    if (!digits) throw ConfigError("--phone: " + err);
  }
  const auto timeout = f.duration("timeout");
  if (timeout.count() <= 0) throw ConfigError("--timeout must be positive");
  const auto deadline = Clock::now() + timeout;
  auto conn = open_database(f, "accounts pair", "accounts-pair");

  auto s = store::read_pairing_state(conn, business_id);
  if (!s) {
    std::cerr << fmt::format("waconnector: business {} is not registered (waconnector accounts add)\n", business_id);
    return 1;
  }
  if (s->status == "logged_out") {
    if (!f.boolean("relink")) {
      std::cerr << fmt::format(
          "waconnector: business {} is logged out; no pod serves it. Pair it again with --relink (drops the old "
          "device)\n",
          business_id);
      return 1;
    }
    if (store::reset_logged_out_for_pairing(conn, business_id))
      std::cout << fmt::format("business {} reset for pairing (old device dropped)\n", business_id);
    s = store::read_pairing_state(conn, business_id);
    if (!s) return 1;
  }
  if (is_paired(*s)) {
    std::cout << "already ";
    return report_paired(*s);
  }
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  if (digits) {
    // The leader can ask for a code only once its client is connected for pairing, which is
    // when it publishes a QR (whatsmeow advises waiting for the first pair-device too).
    if (!s->qr) {
      std::cout << fmt::format("waiting for the leader of business {} to be ready for pairing (status {})...\n",
                               business_id, s->status)
                << std::flush;
      for (;;) {
        const auto now = Clock::now();
        if (now >= deadline) {
          std::cerr << fmt::format("waconnector: business {} never became ready for pairing (is a pod running?)\n",
                                   business_id);
          return 1;
        }
        std::this_thread::sleep_for(std::min<Clock::duration>(kPollInterval, deadline - now));
        s = store::read_pairing_state(conn, business_id);
        if (!s) return 1;
        if (is_paired(*s)) return report_paired(*s);
        if (s->qr) break;
      }
    }
    const auto code = request_pair_code(conn, business_id, *digits, !f.boolean("no-push"), deadline);
    if (!code) return 1;
    std::cout << fmt::format(
                     "Pair code: {}\nOn the phone: WhatsApp > Linked devices > Link a device > Link with phone "
                     "number instead, and type the code.\n",
                     format_pair_code(*code))
              << std::flush;
    return follow_pairing(conn, business_id, deadline, tty, false);
  }
  return follow_pairing(conn, business_id, deadline, tty, true);
}

}  // namespace wa::app
