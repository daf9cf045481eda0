// WaClient: the public API, state and events, store writes, sending and connecting (whatsmeow's
// client.go). The protocol concerns live in the files client_impl.h lists.
#include "core/client/wa_client.h"

#include "common/log.h"
#include "core/binary/encoder.h"
#include "core/client/client_impl.h"
#include "core/client/pair_code.h"
#include "core/socket/cert_chain.h"
#include "core/socket/client_connect.h"
#include "core/socket/client_payload.h"

namespace wa::client {

namespace {

// The ClientPayload for this device: login once paired, registration before.
Bytes client_payload_for(const DeviceKeys& dev) {
  if (dev.paired()) {
    auto j = binary::Jid::parse(dev.jid);
    if (!j || j->user.empty() || j->user.find_first_not_of("0123456789") != std::string::npos ||
        j->user.size() > 19) {
      throw std::invalid_argument("stored jid is not a phone-number device JID");
    }
    return socket::login_payload(std::stoull(j->user), j->device.value_or(0));
  }
  socket::RegistrationKeys rk;
  rk.registration_id = dev.registration_id;
  rk.identity_pub = dev.identity_key.pub;
  rk.signed_pre_key_id = dev.signed_pre_key.id;
  rk.signed_pre_key_pub = dev.signed_pre_key.pair.pub;
  rk.signed_pre_key_sig = dev.signed_pre_key.signature;
  return socket::registration_payload(rk);
}

}  // namespace

WaClient::Impl::Impl(socket::Strand strand, std::string id, ClientOptions o, std::unique_ptr<DeviceStore> s,
                     core::ConnectionEvents ev, std::shared_ptr<const core::Lease> l,
                     std::unique_ptr<MessageStore> m)
    : io(std::move(strand)),
      business_id(std::move(id)),
      opt(std::move(o)),
      store(std::move(s)),
      messages(std::move(m)),
      events(std::move(ev)),
      lease(std::move(l)),
      backoff(opt.backoff_initial, opt.backoff_max, opt.backoff_jitter, std::random_device{}()),
      rng(std::random_device{}()) {
  // The WaClient holds the pool: an Impl released on a pool thread must not be the pool's last owner.
  opt.io_pool.reset();
  bool zero = true;
  for (auto b : opt.trusted_root) zero = zero && b == 0;
  if (zero) opt.trusted_root = socket::wa_production_root_key();
}

// ------------------------------------------------------------------ state and events

void WaClient::Impl::crashed(const std::string& what) {
  // A handler threw: the client cannot be trusted to continue; report and end (its own thread
  // used to end here; the pool thread is shared and keeps running).
  wa::log::error("wa_client_crashed").kv("business_id", business_id).kv("error", what);
  gave_up = true;
  try {
    cancel_timers();
    drop_connection(Close::abort);
  } catch (const std::exception& e) {
    wa::log::error("wa_client_crash_cleanup_failed").kv("business_id", business_id).kv("error", e.what());
  }
  st.store(ConnectionState::failed);
  if (!stopped.load() && events.on_disconnect)
    events.on_disconnect(DisconnectReason::error, "client error: " + what);
}

void WaClient::Impl::set_state(ConnectionState s) {
  if (stopped.load()) return;
  if (st.exchange(s) == s) return;
  wa::log::info("wa_client_state").kv("business_id", business_id).kv("state", core::to_string(s));
  if (events.on_state) events.on_state(s);
}

void WaClient::Impl::emit_disconnect(DisconnectReason r, const std::string& details) {
  if (stopped.load()) return;
  if (events.on_disconnect) events.on_disconnect(r, details);
}

bool WaClient::Impl::store_write(const char* purpose, const std::function<void()>& write, bool essential) {
  return store_call(purpose, write, {"wa_client_store_write_failed", "store write failed", essential, false});
}

bool WaClient::Impl::store_call(const char* purpose, const std::function<void()>& call,
                                const StoreFailure& on_failure) {
  if (stopped.load()) return false;
  try {
    call();
    return true;
  } catch (const StoreFenced& e) {
    wa::log::warn("wa_client_store_fenced")
        .kv("business_id", business_id)
        .kv("purpose", purpose)
        .kv("error", e.what());
    end_connection(DisconnectReason::lock_lost,
                   std::string("store write refused (") + purpose + "): " + e.what(), false);
  } catch (const std::exception& e) {
    wa::log::error(on_failure.log_event)
        .kv("business_id", business_id)
        .kv("purpose", purpose)
        .kv("error", e.what());
    if (on_failure.end)
      end_connection(DisconnectReason::error,
                     std::string(on_failure.what) + " (" + purpose + "): " + e.what(), on_failure.reconnect);
  }
  return false;
}

// ------------------------------------------------------------------ sending

// The socket's send gate (WebSocketClientOptions::send_gate) for connection `g`: runs on the
// socket's strand, right before bytes go to the kernel.
bool WaClient::Impl::may_write(std::uint64_t g, const std::function<void()>& write) {
  std::lock_guard lk(send_mu);
  if (stopped.load()) return false;
  if (lease_stale()) {
    asio::post(io, alive([this, g] { on_lease_stale(g); }));
    return false;
  }
  write();
  return true;
}

void WaClient::Impl::send(const Node& n) {
  Bytes frame;
  try {
    frame = binary::encode(n, static_cast<binary::Dict>(opt.dict_version));
  } catch (const std::exception& e) {
    wa::log::error("wa_client_encode_failed")
        .kv("business_id", business_id)
        .kv("stanza", n.tag)
        .kv("error", e.what());
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
    wa::log::error("wa_client_send_failed")
        .kv("business_id", business_id)
        .kv("stanza", n.tag)
        .kv("error", e.what());
  }
}

// ------------------------------------------------------------------ connecting

void WaClient::Impl::connect() {
  if (stopped.load() || gave_up) return;
  if (lease_stale())
    return end_connection(DisconnectReason::lock_lost, "lease no longer fresh: not connecting", false);
  if (!dev) {
    try {
      dev = store->load_device();
    } catch (const std::exception& e) {
      wa::log::error("wa_client_store_read_failed")
          .kv("business_id", business_id)
          .kv("purpose", "load device")
          .kv("error", e.what());
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

  socket::ClientConnectOptions co;
  co.url = opt.url;
  co.trusted_root = opt.trusted_root;
  co.noise_key = dev->noise_key;
  co.dict_version = opt.dict_version;
  co.handshake_timeout = opt.handshake_timeout;
  co.websocket.user_agent = opt.user_agent;
  co.websocket.connect_timeout = opt.connect_timeout;
  co.websocket.extra_ca_file = opt.extra_ca_file;
  try {
    co.client_payload = client_payload_for(*dev);
  } catch (const std::exception& e) {
    wa::log::error("wa_client_bad_device").kv("business_id", business_id).kv("error", e.what());
    return end_connection(DisconnectReason::error, std::string("stored device is unusable: ") + e.what(),
                          false);
  }
  wa::log::info("wa_client_connecting")
      .kv("business_id", business_id)
      .kv("login", dev->paired())
      .kv("attempt", backoff.failures());

  // The socket is ours (and stop() can abort it) from its first byte; the send gate keeps the
  // ClientFinish, which logs the device in, back once stop() returned or the lease went stale.
  const auto g = ++gen;
  // The socket keeps these; they hold the client weakly (a gone client sends nothing).
  co.websocket.send_gate = [w = weak_from_this(), g](const std::function<void()>& write) {
    auto self = w.lock();
    return self && self->may_write(g, write);
  };
  auto s = socket::connect_and_handshake(
      io, std::move(co),
      [this, w = weak_from_this(), g](std::exception_ptr e, std::shared_ptr<socket::FrameSocket> s) {
        if (w.expired()) {
          if (s) s->abort();
          return;
        }
        asio::dispatch(io, alive([this, g, e, s = std::move(s)] { on_connected(g, e, s); }));
      });
  std::lock_guard lk(send_mu);
  if (stopped.load()) return s->abort();
  sock = std::move(s);
}

void WaClient::Impl::on_connected(std::uint64_t g, std::exception_ptr e,
                                  std::shared_ptr<socket::FrameSocket> s) {
  if (g != gen || stopped.load()) {
    if (s) s->abort();
    return;
  }
  if (e) return connect_failed(g, wa::log::what(e));
  s->set_close_handler(alive([this, g](const socket::WsCloseInfo& info) {
    asio::dispatch(io, alive([this, g, info] { on_closed(g, info); }));
  }));
  // Handlers run on the socket's strand, which is this client's. The socket keeps this handler,
  // so it must not keep the socket (or the client) alive in turn.
  s->set_frame_handler(alive([this, g](Bytes frame) { on_frame(g, frame); }));
  // whatsmeow starts its keepalive loop right after the handshake, paired or not.
  last_keepalive_ok = Clock::now();
  schedule_keepalive();
}

// ------------------------------------------------------------------ WaClient

WaClient::WaClient(std::string business_id, ClientOptions options, std::unique_ptr<DeviceStore> store,
                   core::ConnectionEvents events, std::shared_ptr<const core::Lease> lease,
                   std::unique_ptr<MessageStore> messages)
    : pool_(options.io_pool ? options.io_pool : std::make_shared<socket::IoPool>(1, "client")),
      impl_(std::make_shared<Impl>(pool_->make_strand(), std::move(business_id), std::move(options),
                                   std::move(store), std::move(events), std::move(lease),
                                   std::move(messages))) {
  if (!impl_->store) throw std::invalid_argument("WaClient needs a DeviceStore");
}

WaClient::~WaClient() {
  stop(DisconnectReason::user_initiated);
  // Waits for a handler of this client running on a pool thread (it sees `stopped` and ends
  // soon: no send, no store write); queued ones find `gone` (alive()). From one of its own
  // handlers the lock is already ours.
  {
    std::lock_guard lk(impl_->run_mu);
    impl_->gone = true;
  }
  impl_.reset();
  pool_.reset();
}

void WaClient::start() {
  Impl& m = *impl_;
  if (m.stopped.load() || m.started.exchange(true)) return;
  m.st.store(ConnectionState::connecting);
  asio::post(m.io, m.alive([&m] { m.connect(); }));
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
  asio::post(m.io, m.alive([&m] {
    m.cancel_timers();
    m.drop_connection(Impl::Close::abort);
  }));
}

core::ConnectionState WaClient::state() const {
  return impl_->st.load();
}

void WaClient::outbox_ready() {
  Impl& m = *impl_;
  if (!m.started.load() || m.stopped.load()) return;
  asio::post(m.io, m.alive([&m] { m.pump_outbox(); }));
}

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
  if (socket::IoPool::on_pool_thread())
    throw PairCodeError("request_pair_code must not be called on an io pool thread");
  auto done = std::make_shared<std::promise<std::string>>();
  auto fut = done->get_future();
  asio::post(m.io, m.alive([&m, digits, show_push_notification, done] {
    m.start_pair_code(digits, show_push_notification, done);
  }));
  if (fut.wait_for(timeout) != std::future_status::ready)
    throw PairCodeError("timed out waiting for the server's answer to companion_hello");
  return fut.get();
}

void WaClient::logout(std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  if (!m.started.load() || m.stopped.load() || m.st.load() != core::ConnectionState::logged_in)
    throw std::runtime_error("the account is not logged in on this connection");
  if (socket::IoPool::on_pool_thread())
    throw std::logic_error("logout must not be called on an io pool thread");
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  asio::post(m.io, m.alive([&m, done, timeout] {
    const std::string own = [&m] {
      std::lock_guard lk(m.jid_mu);
      return m.own_jid;
    }();
    if (own.empty())
      return done->set_exception(std::make_exception_ptr(std::runtime_error("no own device JID")));
    m.send_iq(
        remove_companion_device(m.ids.next(), own),
        [done](const IqResult& r) {
          if (r.answered() && r.ok()) return done->set_value();
          done->set_exception(std::make_exception_ptr(
              std::runtime_error(r.answered() ? "the server refused remove-companion-device"
                                              : "no answer to remove-companion-device")));
        },
        timeout);
  }));
  if (fut.wait_for(timeout + std::chrono::seconds(1)) != std::future_status::ready)
    throw std::runtime_error("timed out waiting for the server's answer to remove-companion-device");
  fut.get();
  wa::log::info("wa_client_logout_sent").kv("business_id", m.business_id);
}

WaClientFactory::WaClientFactory(ClientOptions options, DeviceStoreProvider stores,
                                 MessageStoreProvider messages)
    : options_(std::move(options)), stores_(std::move(stores)), messages_(std::move(messages)) {}

std::unique_ptr<core::Connection> WaClientFactory::create(const std::string& business_id,
                                                          const std::string& /*jid*/,
                                                          core::ConnectionEvents events,
                                                          std::shared_ptr<const core::Lease> lease) {
  auto device = stores_(business_id);
  auto messages = messages_ ? messages_(business_id) : nullptr;
  return std::make_unique<WaClient>(business_id, options_, std::move(device), std::move(events),
                                    std::move(lease), std::move(messages));
}

}  // namespace wa::client
