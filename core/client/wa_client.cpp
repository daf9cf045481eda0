#include "core/client/wa_client.h"

#include <asio.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "common/log.h"
#include "common/mask.h"
#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/client/backoff.h"
#include "core/client/pair_code.h"
#include "core/client/pair_success.h"
#include "core/client/qr.h"
#include "core/client/stanzas.h"
#include "core/client/stream_errors.h"
#include "core/crypto/random.h"
#include "core/socket/cert_chain.h"
#include "core/socket/frame_socket.h"
#include "core/socket/noise_handshake.h"
#include "core/socket/client_payload.h"

namespace wa::client {

using binary::Node;
using core::ConnectionState;
using core::DisconnectReason;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::string exception_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown error";
  }
}

constexpr std::size_t kMinPreKeyCount = 5;
constexpr std::size_t kWantedPreKeyCount = 50;
constexpr std::size_t kInitialPreKeyCount = 812;
constexpr auto kActivityReportInterval = std::chrono::seconds(60);

}  // namespace

struct WaClient::Impl {
  using Timer = asio::steady_timer;
  using IqCallback = std::function<void(const Node* response)>;  // nullptr: timeout or connection gone

  Impl(std::string id, ClientOptions o, std::unique_ptr<DeviceStore> s, core::ConnectionEvents ev)
      : business_id(std::move(id)),
        opt(std::move(o)),
        store(std::move(s)),
        events(std::move(ev)),
        backoff(opt.backoff_initial, opt.backoff_max, opt.backoff_jitter, std::random_device{}()),
        rng(std::random_device{}()) {
    bool zero = true;
    for (auto b : opt.trusted_root) zero = zero && b == 0;
    if (zero) opt.trusted_root = socket::wa_production_root_key();
  }

  // --- declared first: destroyed last, after everything that holds handlers on it ---
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  std::string business_id;
  ClientOptions opt;
  std::unique_ptr<DeviceStore> store;
  core::ConnectionEvents events;
  // Gates every frame sent (null: no gate): checked under send_mu at the moment each frame is
  // handed to the kernel (may_write), so queued frames and keepalive pings are covered too.
  std::shared_ptr<const core::Lease> lease;

  std::atomic<ConnectionState> st{ConnectionState::stopped};
  std::atomic<bool> started{false};
  // Set by stop(); read before every send and every store write. send_mu makes "check + write"
  // atomic with respect to stop(), so nothing is written once stop() returned.
  std::atomic<bool> stopped{false};
  mutable std::mutex send_mu;
  std::shared_ptr<socket::FrameSocket> sock;  // guarded by send_mu for stop(); else io thread only
  mutable std::mutex jid_mu;
  std::string own_jid;

  // Everything below: io thread only.
  std::uint64_t gen = 0;  // connection generation; callbacks of older sockets are ignored
  std::optional<DeviceKeys> dev;
  ReconnectBackoff backoff;
  std::mt19937_64 rng;
  Timer reconnect_timer{io};
  Timer qr_timer{io};
  Timer keepalive_timer{io};
  Timer handshake_timer{io};
  bool handshaken = false;  // the current socket finished the Noise handshake
  IqIds ids;
  struct Pending {
    IqCallback cb;
    std::unique_ptr<Timer> timer;
  };
  std::map<std::string, Pending> pending;
  std::vector<std::string> refs;
  std::size_t qr_index = 0;
  bool expect_restart = false;  // pair-device-sign sent: the 515 that follows is ours
  bool just_paired = false;     // the next <success> is the first login, not a resume
  bool gave_up = false;         // terminal state reached; no reconnects
  Clock::time_point last_keepalive_ok{};
  Clock::time_point last_activity_report{};
  struct PairCodeState {
    std::string code;
    std::string phone;
    KeyPair ephemeral;
    Bytes ref;
  };
  std::optional<PairCodeState> pair_code;

  // ---------------------------------------------------------------- state and events
  void set_state(ConnectionState s) {
    if (stopped.load()) return;
    if (st.exchange(s) == s) return;
    wa::log::info("wa_client_state").kv("business_id", business_id).kv("state", core::to_string(s));
    if (events.on_state) events.on_state(s);
  }

  void emit_disconnect(DisconnectReason r, const std::string& details) {
    if (stopped.load()) return;
    if (events.on_disconnect) events.on_disconnect(r, details);
  }

  // Store writes: nothing after stop(). StoreFenced or a failing essential write stops the client
  // at once (another pod may lead now; a half-saved device must not keep talking). Tracking
  // writes (`essential` false) only log other failures.
  template <class F>
  bool store_write(const char* purpose, F&& f, bool essential = true) {
    if (stopped.load()) return false;
    try {
      f();
      return true;
    } catch (const StoreFenced& e) {
      wa::log::warn("wa_client_store_fenced").kv("business_id", business_id).kv("purpose", purpose).kv("error", e.what());
      halt(DisconnectReason::lock_lost, std::string("store write refused (") + purpose + "): " + e.what());
    } catch (const std::exception& e) {
      wa::log::error("wa_client_store_write_failed").kv("business_id", business_id).kv("purpose", purpose).kv("error", e.what());
      if (essential) halt(DisconnectReason::error, std::string("store write failed (") + purpose + "): " + e.what());
    }
    return false;
  }

  // Ends everything because the store refused us: no more writes, socket dropped.
  void halt(DisconnectReason r, const std::string& details) {
    gave_up = true;
    drop_connection(true);
    cancel_timers();
    set_state(ConnectionState::failed);
    emit_disconnect(r, details);
  }

  // ---------------------------------------------------------------- sending
  // The socket's send gate (WebSocketClientOptions::send_gate) for connection `g`: runs on the
  // socket's strand, right before bytes go to the kernel.
  bool may_write(std::uint64_t g, const std::function<void()>& write) {
    std::lock_guard lk(send_mu);
    if (stopped.load()) return false;
    if (lease && !lease->fresh()) {
      asio::post(io, [this, g] { on_lease_stale(g); });
      return false;
    }
    write();
    return true;
  }

  // A frame was refused because the lease is no longer fresh: this pod may not lead the account
  // any more, so the connection ends for good (the HA layer decides what runs next).
  void on_lease_stale(std::uint64_t g) {
    if (g != gen || stopped.load() || gave_up) return;
    wa::log::warn("wa_client_lease_stale").kv("business_id", business_id);
    halt(DisconnectReason::lock_lost, "lease no longer fresh: frame dropped, connection ended");
  }

  void send(const Node& n) {
    Bytes frame;
    try {
      frame = binary::encode(n, static_cast<binary::Dict>(opt.dict_version));
    } catch (const std::exception& e) {
      wa::log::error("wa_client_encode_failed").kv("business_id", business_id).kv("stanza", n.tag).kv("error", e.what());
      return;
    }
    std::shared_ptr<socket::FrameSocket> s;
    {
      std::lock_guard lk(send_mu);
      if (stopped.load() || !sock) return;
      s = sock;
    }
    // Not under send_mu: the write itself passes may_write, which takes it.
    try {
      s->send_frame(std::move(frame));
    } catch (const std::exception& e) {
      wa::log::error("wa_client_send_failed").kv("business_id", business_id).kv("stanza", n.tag).kv("error", e.what());
    }
  }

  void send_iq(const Node& n, IqCallback cb, milliseconds timeout) {
    const std::string id = n.attr_text("id").value_or("");
    auto timer = std::make_unique<Timer>(io);
    timer->expires_after(timeout);
    const auto g = gen;
    timer->async_wait([this, id, g](std::error_code ec) {
      if (ec || g != gen) return;
      auto it = pending.find(id);
      if (it == pending.end()) return;
      auto cb = std::move(it->second.cb);
      pending.erase(it);
      if (cb) cb(nullptr);
    });
    pending[id] = Pending{std::move(cb), std::move(timer)};
    send(n);
  }

  void fail_pending() {
    auto p = std::move(pending);
    pending.clear();
    for (auto& [id, entry] : p) {
      entry.timer->cancel();
      if (entry.cb) entry.cb(nullptr);
    }
  }

  void cancel_timers() {
    reconnect_timer.cancel();
    handshake_timer.cancel();
    qr_timer.cancel();
    keepalive_timer.cancel();
  }

  // Forgets the current socket (its callbacks are ignored from now on) and closes it.
  void drop_connection(bool abort) {
    ++gen;
    std::shared_ptr<socket::FrameSocket> s;
    {
      std::lock_guard lk(send_mu);
      s = std::move(sock);
      sock.reset();
    }
    if (s) {
      s->set_frame_handler(nullptr);
      if (abort) s->abort();
      else s->close();
    }
    qr_timer.cancel();
    keepalive_timer.cancel();
    handshake_timer.cancel();
    fail_pending();
  }

  // ---------------------------------------------------------------- connecting
  void connect() {
    if (stopped.load() || gave_up) return;
    if (lease && !lease->fresh()) {
      return halt(DisconnectReason::lock_lost, "lease no longer fresh: not connecting");
    }
    if (!dev) {
      try {
        dev = store->load_device();
      } catch (const std::exception& e) {
        wa::log::error("wa_client_store_read_failed").kv("business_id", business_id).kv("purpose", "load device").kv("error", e.what());
        return schedule_reconnect(false);
      }
      if (!dev) {
        DeviceKeys fresh = DeviceKeys::generate();
        if (!store_write("create device keys", [&] { store->save_device(fresh); })) return;
        wa::log::info("wa_device_created").kv("business_id", business_id);
        dev = std::move(fresh);
      }
      std::lock_guard lk(jid_mu);
      own_jid = dev->jid;
    }
    set_state(ConnectionState::connecting);

    socket::WebSocketClientOptions wso;
    wso.user_agent = opt.user_agent;
    wso.connect_timeout = opt.connect_timeout;
    wso.extra_ca_file = opt.extra_ca_file;
    Bytes payload;
    bool login = false;
    try {
      if (dev->paired()) {
        auto j = binary::Jid::parse(dev->jid);
        if (!j || j->user.empty() || j->user.find_first_not_of("0123456789") != std::string::npos || j->user.size() > 19) {
          throw std::invalid_argument("stored jid is not a phone-number device JID");
        }
        payload = socket::login_payload(std::stoull(j->user), j->device.value_or(0));
        login = true;
      } else {
        socket::RegistrationKeys rk;
        rk.registration_id = dev->registration_id;
        rk.identity_pub = dev->identity_key.pub;
        rk.signed_pre_key_id = dev->signed_pre_key.id;
        rk.signed_pre_key_pub = dev->signed_pre_key.pair.pub;
        rk.signed_pre_key_sig = dev->signed_pre_key.signature;
        payload = socket::registration_payload(rk);
      }
    } catch (const std::exception& e) {
      wa::log::error("wa_client_bad_device").kv("business_id", business_id).kv("error", e.what());
      gave_up = true;
      set_state(ConnectionState::failed);
      emit_disconnect(DisconnectReason::error, std::string("stored device is unusable: ") + e.what());
      return;
    }
    wa::log::info("wa_client_connecting").kv("business_id", business_id).kv("login", login).kv("attempt", backoff.failures());

    // The socket is ours from its first byte (rather than core/socket's connect_and_handshake),
    // so stop() can abort a connection that is still handshaking and the ClientFinish, which
    // logs the device in, is never sent once stop() has returned.
    const auto g = ++gen;
    wso.send_gate = [this, g](const std::function<void()>& write) { return may_write(g, write); };
    auto s = socket::FrameSocket::create(io, wso, opt.dict_version);
    auto hs = std::make_shared<socket::ClientHandshake>(
        socket::ClientHandshakeConfig{dev->noise_key, std::move(payload), opt.trusted_root, opt.dict_version, std::nullopt});
    {
      std::lock_guard lk(send_mu);
      if (stopped.load()) return;
      sock = s;
    }
    handshaken = false;
    s->connect(opt.url, [this, g, s, hs](std::exception_ptr e) {
      asio::dispatch(io, [this, g, s, hs, e] { on_ws_open(g, s, hs, e); });
    });
  }

  void on_ws_open(std::uint64_t g, const std::shared_ptr<socket::FrameSocket>& s,
                  const std::shared_ptr<socket::ClientHandshake>& hs, std::exception_ptr e) {
    if (g != gen || stopped.load()) return s->abort();
    if (e) return connect_failed(g, exception_text(e));
    s->set_close_handler([this, g](const socket::WsCloseInfo& info) {
      asio::dispatch(io, [this, g, info] { on_closed(g, info); });
    });
    // Handlers run on the socket's strand (this client's one thread), inline: the transport is
    // installed before the frame after the ServerHello is read.
    // The socket keeps this handler: a weak reference, or the two would keep each other alive.
    s->set_frame_handler([this, g, weak = std::weak_ptr<socket::FrameSocket>(s), hs](Bytes frame) {
      if (g != gen || stopped.load()) return;
      if (handshaken) return on_frame(g, frame);
      auto s = weak.lock();
      if (!s) return;
      Bytes finish;
      try {
        finish = hs->process_server_hello(frame);
      } catch (const std::exception& x) {
        return connect_failed(g, std::string("handshake: ") + x.what());
      }
      // The ClientFinish logs the device in: the send gate keeps it back once stop() returned.
      if (stopped.load()) return;
      try {
        s->send_frame(std::move(finish));
        s->install_transport(hs->transport());
      } catch (const std::exception& x) {
        wa::log::error("wa_client_send_failed").kv("business_id", business_id).kv("stanza", "client_finish").kv("error", x.what());
      }
      handshaken = true;
      handshake_timer.cancel();
      // whatsmeow starts its keepalive loop right after the handshake, paired or not.
      last_keepalive_ok = Clock::now();
      schedule_keepalive();
    });
    handshake_timer.expires_after(opt.handshake_timeout);
    handshake_timer.async_wait([this, g](std::error_code ec) {
      if (ec || g != gen || handshaken) return;
      connect_failed(g, "no ServerHello within " + std::to_string(opt.handshake_timeout.count()) + " ms");
    });
    if (stopped.load()) return;
    try {
      s->send_frame(hs->client_hello());
    } catch (const std::exception& x) {
      wa::log::error("wa_client_send_failed").kv("business_id", business_id).kv("stanza", "client_hello").kv("error", x.what());
    }
  }

  void connect_failed(std::uint64_t g, const std::string& what) {
    if (g != gen || stopped.load() || gave_up) return;
    if (lease && !lease->fresh()) return on_lease_stale(g);  // the upgrade was refused by the gate
    wa::log::warn("wa_client_connect_failed").kv("business_id", business_id).kv("error", what);
    drop_connection(true);
    store_write("report disconnect", [&] { store->report_disconnected(DisconnectReason::error, "connect failed: " + what); }, false);
    emit_disconnect(DisconnectReason::error, "connect failed: " + what);
    schedule_reconnect(false);
  }

  void on_closed(std::uint64_t g, const socket::WsCloseInfo& info) {
    if (g != gen || stopped.load() || gave_up) return;
    if (lease && !lease->fresh()) return on_lease_stale(g);  // closed by the send gate
    const std::string details = "connection closed (code " + std::to_string(info.code) + (info.reason.empty() ? "" : ": " + info.reason) + ")";
    drop_connection(true);
    if (expect_restart) {
      // Some servers close without the 515 first; the pairing is done either way.
      expect_restart = false;
      return connect();
    }
    wa::log::warn("wa_client_disconnected").kv("business_id", business_id).kv("code", static_cast<int>(info.code)).kv("by_peer", info.by_peer);
    store_write("report disconnect", [&] { store->report_disconnected(DisconnectReason::error, details); }, false);
    emit_disconnect(DisconnectReason::error, details);
    schedule_reconnect(false);
  }

  void schedule_reconnect(bool now) {
    if (stopped.load() || gave_up) return;
    set_state(ConnectionState::connecting);
    const milliseconds delay = now ? milliseconds(0) : backoff.next();
    wa::log::info("wa_client_reconnect_scheduled").kv("business_id", business_id).kv("delay_ms", static_cast<std::int64_t>(delay.count()));
    reconnect_timer.expires_after(delay);
    reconnect_timer.async_wait([this](std::error_code ec) {
      if (!ec) connect();
    });
  }

  // The connection cannot continue and must not be retried automatically.
  void give_up(DisconnectReason r, const std::string& details) {
    gave_up = true;
    wa::log::warn("wa_client_gave_up").kv("business_id", business_id).kv("reason", core::to_string(r)).kv("details", details);
    drop_connection(false);
    cancel_timers();
    if (r == DisconnectReason::qr_expired) store_write("clear qr", [&] { store->clear_qr(); }, false);
    store_write("report disconnect", [&] { store->report_disconnected(r, details); }, false);
    set_state(ConnectionState::failed);
    emit_disconnect(r, details);
  }

  // ---------------------------------------------------------------- incoming
  void on_frame(std::uint64_t g, const Bytes& frame) {
    if (g != gen || stopped.load()) return;
    Node n;
    try {
      n = binary::decode_frame(frame, static_cast<binary::Dict>(opt.dict_version));
    } catch (const std::exception& e) {
      wa::log::warn("wa_client_bad_frame").kv("business_id", business_id).kv("bytes", frame.size()).kv("error", e.what());
      return;
    }
    const auto now = Clock::now();
    if (st.load() == ConnectionState::logged_in && now - last_activity_report >= kActivityReportInterval) {
      last_activity_report = now;
      store_write("report activity", [&] { store->report_activity(); }, false);
    }
    try {
      dispatch(n);
    } catch (const std::exception& e) {
      // A stanza we could not handle must not take the client thread down: start afresh.
      wa::log::error("wa_client_handler_failed").kv("business_id", business_id).kv("stanza", n.tag).kv("error", e.what());
      drop_connection(true);
      emit_disconnect(DisconnectReason::error, "handling <" + n.tag + "> failed: " + e.what());
      schedule_reconnect(false);
    }
  }

  void dispatch(const Node& n) {
    if (n.tag == "iq") return on_iq(n);
    if (n.tag == "success") return on_success(n);
    if (n.tag == "failure") return on_verdict(classify_failure(n), "failure");
    if (n.tag == "stream:error") return on_verdict(classify_stream_error(n), "stream_error");
    if (n.tag == "notification") {
      send(ack_for(n));
      return on_notification(n);
    }
    if (n.tag == "message" || n.tag == "receipt" || n.tag == "call") return send(ack_for(n));
    if (n.tag == "xmlstreamend") {
      wa::log::info("wa_client_stream_end").kv("business_id", business_id);
      return;
    }
    wa::log::debug("wa_client_unhandled").kv("business_id", business_id).kv("stanza", n.tag);
  }

  void on_iq(const Node& n) {
    const std::string id = n.attr_text("id").value_or("");
    const std::string type = n.attr_text("type").value_or("");
    if ((type == "result" || type == "error") && !id.empty()) {
      auto it = pending.find(id);
      if (it != pending.end()) {
        auto cb = std::move(it->second.cb);
        it->second.timer->cancel();
        pending.erase(it);
        if (cb) cb(&n);
        return;
      }
    }
    // whatsmeow acts on pairing iqs only from the bare server JID with exactly one child.
    const auto from = n.attr_text("from").value_or("");
    if (from != "s.whatsapp.net" && from != "@s.whatsapp.net") return;
    if (n.children().size() != 1) return;
    const Node& c = n.children().front();
    if (c.tag == "pair-device") return on_pair_device(n, c);
    if (c.tag == "pair-success") return on_pair_success(n, c);
  }

  void on_verdict(const Verdict& v, const char* what) {
    wa::log::warn(std::string("wa_client_") + what).kv("business_id", business_id).kv("details", v.details);
    switch (v.reaction) {
      case Reaction::reconnect_now:
        expect_restart = false;
        drop_connection(false);
        return connect();
      case Reaction::reconnect_backoff:
        drop_connection(false);
        store_write("report disconnect", [&] { store->report_disconnected(v.reason, v.details); }, false);
        emit_disconnect(v.reason, v.details);
        return schedule_reconnect(false);
      case Reaction::give_up:
        return give_up(v.reason, v.details);
    }
  }

  // ---------------------------------------------------------------- QR pairing
  void on_pair_device(const Node& iq_node, const Node& pd) {
    send(iq_result(iq_node));
    std::vector<std::string> r;
    for (const auto& c : pd.children()) {
      if (c.tag != "ref") continue;
      const Bytes* b = c.bytes();  // whatsmeow ignores refs that are not BINARY content
      if (!b || b->empty() || b->size() > 1024) continue;
      r.emplace_back(b->begin(), b->end());
    }
    if (dev->paired()) {
      wa::log::warn("wa_client_pair_device_while_paired").kv("business_id", business_id);
      return;
    }
    wa::log::info("wa_client_pairing").kv("business_id", business_id).kv("refs", r.size());
    refs = std::move(r);
    qr_index = 0;
    set_state(ConnectionState::pairing);
    show_qr();
  }

  void show_qr() {
    if (qr_index >= refs.size()) {
      return give_up(DisconnectReason::qr_expired, "all " + std::to_string(refs.size()) + " QR codes expired without a scan");
    }
    const auto timeout = qr_timeout(qr_index, opt.qr_first_timeout, opt.qr_next_timeout);
    std::string qr;
    try {
      qr = make_qr_string(refs[qr_index], dev->noise_key.pub, dev->identity_key.pub, dev->adv_secret);
    } catch (const std::exception& e) {
      wa::log::warn("wa_client_bad_ref").kv("business_id", business_id).kv("error", e.what());
      ++qr_index;
      return show_qr();
    }
    const auto expires = std::chrono::system_clock::now() + timeout;
    if (!store_write("set qr", [&] { store->set_qr(qr, expires); })) return;
    wa::log::info("wa_client_qr").kv("business_id", business_id).kv("index", qr_index).kv("expires_in_ms", static_cast<std::int64_t>(timeout.count()));
    qr_timer.expires_after(timeout);
    const auto g = gen;
    qr_timer.async_wait([this, g](std::error_code ec) {
      if (ec || g != gen) return;
      ++qr_index;
      show_qr();
    });
  }

  void on_pair_success(const Node& iq_node, const Node& ps) {
    const std::string id = iq_node.attr_text("id").value_or("");
    const Node* di = ps.child("device-identity");
    const Node* device = ps.child("device");
    if (!di || !di->bytes() || !device || !device->attr("jid")) {
      wa::log::warn("wa_client_pair_success_malformed").kv("business_id", business_id);
      return send(pair_error(id, 500, "internal-error"));
    }
    PairedIdentity pi;
    try {
      pi = verify_pair_success(*di->bytes(), dev->adv_secret, dev->identity_key);
    } catch (const PairError& e) {
      wa::log::warn("wa_client_pair_rejected").kv("business_id", business_id).kv("code", e.code()).kv("error", e.what());
      return send(pair_error(id, e.code(), e.text()));
    }
    auto jid = binary::Jid::parse(device->attr_text("jid").value_or(""));
    if (!jid || jid->user.empty() || !jid->is_user()) {
      wa::log::warn("wa_client_pair_success_bad_jid").kv("business_id", business_id);
      return send(pair_error(id, 500, "internal-error"));
    }
    DeviceKeys d = *dev;
    d.jid = jid->to_string();
    d.lid = device->attr_text("lid").value_or("");
    d.account = pi.account;
    if (const Node* p = ps.child("platform")) d.platform = p->attr_text("name").value_or("");
    if (const Node* b = ps.child("biz")) d.business_name = b->attr_text("name").value_or("");
    if (!store_write("save paired device", [&] { store->save_device(d); })) return;
    if (!store_write("set paired jid", [&] { store->set_paired(d.jid); })) return;
    store_write("clear qr", [&] { store->clear_qr(); }, false);
    dev = std::move(d);
    {
      std::lock_guard lk(jid_mu);
      own_jid = dev->jid;
    }
    qr_timer.cancel();
    pair_code.reset();
    expect_restart = true;
    just_paired = true;
    wa::log::info("wa_client_paired").kv("business_id", business_id).kv("jid", wa::mask_jid(dev->jid)).kv("platform", dev->platform);
    send(pair_device_sign(id, pi.key_index, pi.reply));
    send(unified_session(std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count()));
  }

  // ---------------------------------------------------------------- pair code
  void start_pair_code(const std::string& digits, bool show_push, std::shared_ptr<std::promise<std::string>> done) {
    auto fail = [&](const std::string& why) { done->set_exception(std::make_exception_ptr(PairCodeError(why))); };
    if (stopped.load() || st.load() != ConnectionState::pairing || !dev || dev->paired()) {
      return fail("the account is not waiting for pairing (state " + std::string(core::to_string(st.load())) + ")");
    }
    PairCodeState pc;
    pc.code = new_linking_code();
    pc.phone = digits;
    pc.ephemeral = KeyPair::generate();
    Bytes wrapped;
    try {
      wrapped = wrap_ephemeral(pc.code, pc.ephemeral.pub, crypto::random_bytes(32), crypto::random_bytes(16));
    } catch (const std::exception& e) {
      return fail(std::string("cannot wrap the companion key: ") + e.what());
    }
    const std::string id = ids.next();
    auto hello = link_code_hello(id, digits, show_push, wrapped, dev->noise_key.pub, "1", opt.platform_display);
    pair_code = std::move(pc);
    send_iq(hello, [this, done](const Node* r) {
      if (!r) return done->set_exception(std::make_exception_ptr(PairCodeError("no answer to companion_hello")));
      if (r->attr_text("type").value_or("") != "result") {
        std::string why = "server refused companion_hello";
        if (const Node* e = r->child("error")) why += " (code " + e->attr_text("code").value_or("?") + " " + e->attr_text("text").value_or("") + ")";
        return done->set_exception(std::make_exception_ptr(PairCodeError(why)));
      }
      const Node* reg = r->child("link_code_companion_reg");
      const Node* ref = reg ? reg->child("link_code_pairing_ref") : nullptr;
      if (!ref || !ref->bytes() || !pair_code) {
        return done->set_exception(std::make_exception_ptr(PairCodeError("companion_hello answer has no link_code_pairing_ref")));
      }
      pair_code->ref = *ref->bytes();
      wa::log::info("wa_client_pair_code").kv("business_id", business_id).kv("phone", wa::mask_phone(pair_code->phone));
      done->set_value(pair_code->code);
    }, opt.iq_timeout);
  }

  void on_notification(const Node& n) {
    const std::string type = n.attr_text("type").value_or("");
    if (type == "link_code_companion_reg") return on_link_code_notification(n);
    if (type == "encrypt" && st.load() == ConnectionState::logged_in) {
      if (const Node* c = n.child("count")) {
        const auto v = c->attr_text("value").value_or("");
        const bool digits = !v.empty() && v.size() < 9 && v.find_first_not_of("0123456789") == std::string::npos;
        if (digits && std::stoul(v) < kMinPreKeyCount) upload_pre_keys(kWantedPreKeyCount, [] {});
      }
    }
  }

  void on_link_code_notification(const Node& n) {
    const Node* reg = n.child("link_code_companion_reg");
    if (!reg || !pair_code || pair_code->ref.empty()) {
      wa::log::warn("wa_client_link_code_unexpected").kv("business_id", business_id);
      return;
    }
    const Node* ref = reg->child("link_code_pairing_ref");
    const Node* primary_id = reg->child("primary_identity_pub");
    const Node* wrapped = reg->child("link_code_pairing_wrapped_primary_ephemeral_pub");
    if (!ref || !ref->bytes() || *ref->bytes() != pair_code->ref) {
      wa::log::warn("wa_client_link_code_ref_mismatch").kv("business_id", business_id);
      return;
    }
    if (!primary_id || !primary_id->bytes() || primary_id->bytes()->size() != 32 || !wrapped || !wrapped->bytes()) {
      wa::log::warn("wa_client_link_code_malformed").kv("business_id", business_id);
      return;
    }
    CompanionFinish fin;
    try {
      fin = companion_finish(pair_code->code, pair_code->ephemeral, *wrapped->bytes(),
                             crypto::key32_from(*primary_id->bytes(), "primary identity"), dev->identity_key,
                             crypto::random_bytes(32), crypto::random_bytes(32), crypto::random_bytes(12));
    } catch (const std::exception& e) {
      wa::log::warn("wa_client_link_code_failed").kv("business_id", business_id).kv("error", e.what());
      return;
    }
    DeviceKeys d = *dev;
    d.adv_secret = fin.adv_secret;
    if (!store_write("save pair-code adv secret", [&] { store->save_device(d); })) return;
    dev = std::move(d);
    const std::string id = ids.next();
    send_iq(link_code_finish(id, pair_code->phone, fin.wrapped_key_bundle, dev->identity_key.pub, pair_code->ref),
            [this](const Node* r) {
              if (!r || r->attr_text("type").value_or("") != "result") {
                wa::log::warn("wa_client_link_code_finish_refused").kv("business_id", business_id);
              }
            },
            opt.iq_timeout);
  }

  // ---------------------------------------------------------------- after login
  void on_success(const Node& n) {
    if (!dev || !dev->paired()) {
      wa::log::warn("wa_client_success_unpaired").kv("business_id", business_id);
      return;
    }
    backoff.reset();
    expect_restart = false;
    const bool resumed = !just_paired;
    just_paired = false;
    if (auto lid = n.attr_text("lid"); lid && dev->lid.empty()) {
      DeviceKeys d = *dev;
      d.lid = *lid;
      if (!store_write("save lid", [&] { store->save_device(d); })) return;
      dev = std::move(d);
    }
    wa::log::info("wa_client_logged_in").kv("business_id", business_id).kv("jid", wa::mask_jid(dev->jid)).kv("resumed", resumed);
    set_state(ConnectionState::logged_in);
    if (!store_write("report connected", [&] { store->report_connected(resumed); }, false) && (stopped.load() || gave_up)) return;
    last_activity_report = Clock::now();
    // What whatsmeow sends first (§7.2): pre-key count (+ upload), then passive off.
    const auto g = gen;
    send_iq(pre_key_count(ids.next()), [this, g](const Node* r) {
      if (g != gen) return;
      std::size_t server_count = 0;
      bool known = false;
      if (r && r->attr_text("type").value_or("") == "result") {
        if (const Node* c = r->child("count")) {
          const auto v = c->attr_text("value").value_or("");
          if (!v.empty() && v.size() < 9 && v.find_first_not_of("0123456789") == std::string::npos) {
            server_count = std::stoul(v);
            known = true;
          }
        }
      }
      if (!known) wa::log::warn("wa_client_prekey_count_unknown").kv("business_id", business_id);
      std::size_t local = 0;
      try {
        local = store->uploaded_pre_key_count();
      } catch (const std::exception& e) {
        wa::log::error("wa_client_store_read_failed").kv("business_id", business_id).kv("purpose", "uploaded pre-key count").kv("error", e.what());
      }
      auto then = [this, g] {
        if (g == gen) send_iq(passive_active(ids.next()), [](const Node*) {}, opt.iq_timeout);
      };
      if (known && (server_count < kMinPreKeyCount || local < kMinPreKeyCount)) {
        upload_pre_keys(server_count == 0 && local == 0 ? kInitialPreKeyCount : kWantedPreKeyCount, then);
      } else {
        then();
      }
    }, opt.iq_timeout);
  }

  // Uploads `want` pre-keys: stored ones not uploaded yet first, new ones generated for the rest.
  void upload_pre_keys(std::size_t want, std::function<void()> then) {
    std::vector<PreKey> keys;
    try {
      keys = store->unuploaded_pre_keys(want);
    } catch (const std::exception& e) {
      wa::log::error("wa_client_store_read_failed").kv("business_id", business_id).kv("purpose", "unuploaded pre-keys").kv("error", e.what());
      return then();
    }
    if (keys.size() < want) {
      std::uint32_t next = 1;
      try {
        next = store->next_pre_key_id();
      } catch (const std::exception& e) {
        wa::log::error("wa_client_store_read_failed").kv("business_id", business_id).kv("purpose", "next pre-key id").kv("error", e.what());
        return then();
      }
      std::vector<PreKey> fresh;
      for (std::size_t i = keys.size(); i < want; ++i) {
        if (next == 0 || next > kMaxPreKeyId) next = 1;  // 24-bit ids wrap
        fresh.push_back(PreKey{next++, KeyPair::generate(), false});
      }
      if (!store_write("save pre-keys", [&] { store->save_pre_keys(fresh); })) return;
      keys.insert(keys.end(), fresh.begin(), fresh.end());
    }
    if (keys.empty()) return then();
    std::uint32_t last = 0;
    for (const auto& k : keys) last = std::max(last, k.id);
    const auto g = gen;
    const auto n = keys.size();
    send_iq(pre_key_upload(ids.next(), *dev, keys), [this, g, last, n, then](const Node* r) {
      if (g != gen) return;
      if (r && r->attr_text("type").value_or("") == "result") {
        if (!store_write("mark pre-keys uploaded", [&] { store->mark_pre_keys_uploaded(last); })) return;
        wa::log::info("wa_client_prekeys_uploaded").kv("business_id", business_id).kv("count", n);
      } else {
        wa::log::warn("wa_client_prekey_upload_failed").kv("business_id", business_id).kv("count", n);
      }
      then();
    }, opt.iq_timeout);
  }

  void schedule_keepalive() {
    const auto lo = opt.keepalive_min.count(), hi = std::max(opt.keepalive_max.count(), lo);
    std::uniform_int_distribution<std::int64_t> d(lo, hi);
    keepalive_timer.expires_after(milliseconds(d(rng)));
    const auto g = gen;
    keepalive_timer.async_wait([this, g](std::error_code ec) {
      if (ec || g != gen || stopped.load()) return;
      send_iq(keepalive_ping(ids.next()), [this, g](const Node* r) {
        if (g != gen) return;
        if (r) {
          last_keepalive_ok = Clock::now();
          return schedule_keepalive();
        }
        const auto since = std::chrono::duration_cast<milliseconds>(Clock::now() - last_keepalive_ok);
        wa::log::warn("wa_client_keepalive_timeout").kv("business_id", business_id).kv("since_last_ok_ms", static_cast<std::int64_t>(since.count()));
        if (since >= opt.keepalive_max_fail) {
          const std::string details = "keepalive unanswered for " + std::to_string(since.count()) + " ms";
          drop_connection(true);
          store_write("report disconnect", [&] { store->report_disconnected(DisconnectReason::timeout, details); }, false);
          emit_disconnect(DisconnectReason::timeout, details);
          return schedule_reconnect(false);
        }
        schedule_keepalive();
      }, opt.keepalive_response_timeout);
    });
  }
};

// ------------------------------------------------------------------ WaClient

WaClient::WaClient(std::string business_id, ClientOptions options, std::unique_ptr<DeviceStore> store,
                   core::ConnectionEvents events, std::shared_ptr<const core::Lease> lease)
    : impl_(std::make_shared<Impl>(std::move(business_id), std::move(options), std::move(store), std::move(events))) {
  impl_->lease = std::move(lease);
  if (!impl_->store) throw std::invalid_argument("WaClient needs a DeviceStore");
}

WaClient::~WaClient() {
  stop(DisconnectReason::user_initiated);
  impl_->io.stop();
  if (impl_->thread.joinable()) {
    if (impl_->thread.get_id() == std::this_thread::get_id()) impl_->thread.detach();
    else impl_->thread.join();
  }
}

void WaClient::start() {
  Impl& m = *impl_;
  if (m.stopped.load() || m.started.exchange(true)) return;
  m.work.emplace(asio::make_work_guard(m.io));
  m.st.store(ConnectionState::connecting);
  asio::post(m.io, [&m] { m.connect(); });
  m.thread = std::thread([&m] {
    try {
      m.io.run();
    } catch (const std::exception& e) {
      // A handler threw: the client cannot be trusted to continue; report and end.
      wa::log::error("wa_client_crashed").kv("business_id", m.business_id).kv("error", e.what());
      m.st.store(ConnectionState::failed);
      if (!m.stopped.load() && m.events.on_disconnect) m.events.on_disconnect(DisconnectReason::error, std::string("client error: ") + e.what());
    }
  });
}

void WaClient::stop(DisconnectReason why) {
  Impl& m = *impl_;
  std::shared_ptr<socket::FrameSocket> s;
  {
    std::lock_guard lk(m.send_mu);
    if (m.stopped.exchange(true)) return;
    s = m.sock;
  }
  if (s) s->abort();
  m.st.store(ConnectionState::stopped);
  wa::log::info("wa_client_stopped").kv("business_id", m.business_id).kv("reason", core::to_string(why));
  // Timers and pending requests are cleaned up on the client's thread; nothing they run can
  // send or write any more (both check `stopped`).
  asio::post(m.io, [&m] {
    m.cancel_timers();
    m.drop_connection(true);
    m.work.reset();
  });
}

core::ConnectionState WaClient::state() const { return impl_->st.load(); }

std::string WaClient::jid() const {
  std::lock_guard lk(impl_->jid_mu);
  return impl_->own_jid;
}

std::string WaClient::request_pair_code(const std::string& phone, bool show_push_notification,
                                        std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  std::string digits;
  try {
    digits = pair_phone_digits(phone);
  } catch (const std::invalid_argument& e) {
    throw PairCodeError(e.what());
  }
  if (!m.started.load() || m.stopped.load()) throw PairCodeError("the client is not running");
  auto done = std::make_shared<std::promise<std::string>>();
  auto fut = done->get_future();
  asio::post(m.io, [&m, digits, show_push_notification, done] { m.start_pair_code(digits, show_push_notification, done); });
  if (fut.wait_for(timeout) != std::future_status::ready) throw PairCodeError("timed out waiting for the server's answer to companion_hello");
  return fut.get();
}

WaClientFactory::WaClientFactory(ClientOptions options, DeviceStoreProvider stores)
    : options_(std::move(options)), stores_(std::move(stores)) {}

std::unique_ptr<core::Connection> WaClientFactory::create(const std::string& business_id, const std::string& /*jid*/,
                                                          core::ConnectionEvents events,
                                                          std::shared_ptr<const core::Lease> lease) {
  return std::make_unique<WaClient>(business_id, options_, stores_(business_id), std::move(events), std::move(lease));
}

}  // namespace wa::client
