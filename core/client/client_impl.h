// WaClient's state and the protocol concerns that act on it, one file each (whatsmeow's layout):
//   wa_client.cpp          public API, state and events, store writes, sending, connecting
//   request.cpp            IQ requests and their typed results (response / timeout / disconnected)
//   receive.cpp            incoming frames: decode and dispatch
//   connection_events.cpp  how a connection ends (end_connection), reconnects, stream verdicts
//   keepalive.cpp          w:p pings and the dead-server rule
//   prekeys.cpp            pre-key count and uploads, after login and on the server's request
//   pair.cpp               QR pairing: pair-device, QR rotation, pair-success
//   pair_code_flow.cpp     phone-number pairing: companion_hello and link_code_companion_reg
//   login.cpp              <success>: first login or resume, then what whatsmeow sends first
//
// Threading: everything below "io thread only" runs on the client's strand of the shared io pool
// (socket/io_pool.h); its sockets run on the same strand, so frames, timers and posted work are
// serialised as on one thread. `stopped`, `st`, `send_mu`, `sock` and `own_jid` are also touched by
// the public methods from other threads. Completions hold the Impl weakly (alive()): once the
// WaClient is gone they do nothing, and no pool thread is ever waited for.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "common/backoff.h"
#include "core/client/device_sent.h"
#include "core/client/message_info.h"
#include "core/client/message_store.h"
#include "core/client/receipt_handle.h"
#include "core/client/request.h"
#include "core/client/retry_receipt.h"
#include "core/client/stanzas.h"
#include "core/client/stream_errors.h"
#include "core/client/usync.h"
#include "core/client/wa_client.h"
#include "core/crypto/signal_context.h"
#include "core/signal/protocol_store.h"
#include "core/socket/frame_socket.h"

namespace wa::client {

using Clock = std::chrono::steady_clock;
using core::ConnectionState;
using core::DisconnectReason;
using std::chrono::milliseconds;

struct WaClient::Impl : std::enable_shared_from_this<WaClient::Impl> {
  using Timer = asio::steady_timer;

  Impl(socket::Strand strand, std::string id, ClientOptions o, std::unique_ptr<DeviceStore> s,
       core::ConnectionEvents ev, std::shared_ptr<const core::Lease> l, std::unique_ptr<MessageStore> m);

  // The client's strand; the timers below and every socket of the client run on it.
  socket::Strand io;

  std::string business_id;
  ClientOptions opt;
  std::unique_ptr<DeviceStore> store;
  std::unique_ptr<MessageStore> messages;  // null: messages are acked and dropped
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
  Backoff backoff;
  std::mt19937_64 rng;
  Timer reconnect_timer{io};
  Timer qr_timer{io};
  Timer keepalive_timer{io};
  IqIds ids;
  struct Pending {
    IqHandler handler;
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
  // Messaging (io thread only): the account's own libsignal context and store adapter, created at
  // the first message once paired; retry numbers per message id.
  std::unique_ptr<crypto::SignalContext> signal_ctx;
  std::unique_ptr<signal::ProtocolStore> protocol;
  RetryCounter retries;

  // A completion handler for the strand: runs `f` only while the client exists (holding it for the
  // call), and a throw ends this client (`failed`) instead of reaching the shared pool thread.
  template <class F>
  auto alive(F f) {
    return [w = weak_from_this(), f = std::move(f)](auto&&... args) mutable {
      auto self = w.lock();
      if (!self) return;
      std::lock_guard lk(self->run_mu);
      if (self->gone) return;
      try {
        f(std::forward<decltype(args)>(args)...);
      } catch (const std::exception& e) {
        self->crashed(e.what());
      }
    };
  }
  void crashed(const std::string& what);
  // Held while one of the client's handlers runs (recursive: a handler may dispatch another inline
  // on the same strand). ~WaClient takes it to wait for a running handler and sets `gone`, so
  // that, as when each client had its own thread to join, nothing of it runs once it is destroyed.
  std::recursive_mutex run_mu;
  bool gone = false;

  // wa_client.cpp: state, events, store writes, sending, connecting
  void set_state(ConnectionState s);
  void emit_disconnect(DisconnectReason r, const std::string& details);
  // Store writes: nothing after stop(). StoreFenced or a failing essential write ends the
  // connection for good (another pod may lead now; a half-saved device must not keep talking).
  // Tracking writes (`essential` false) only log other failures.
  bool store_write(const char* purpose, const std::function<void()>& write, bool essential = true);
  // What a failed store call (other than StoreFenced) logs, and whether it ends the connection.
  struct StoreFailure {
    const char* log_event;
    const char* what;  // "store write failed": the details of the end
    bool end;
    bool reconnect;
  };
  // The one guard under store_write and message_store_call: nothing after stop(); StoreFenced
  // ends the connection as lock_lost, never to reconnect.
  bool store_call(const char* purpose, const std::function<void()>& call, const StoreFailure& on_failure);
  bool lease_stale() const { return lease && !lease->fresh(); }
  bool may_write(std::uint64_t g, const std::function<void()>& write);
  void send(const Node& n);
  void connect();
  void on_connected(std::uint64_t g, std::exception_ptr e, std::shared_ptr<socket::FrameSocket> s);

  // request.cpp
  void send_iq(const Node& n, IqHandler handler, milliseconds timeout);
  bool route_response(const Node& iq);  // true: it answered one of our requests
  void fail_pending();

  // receive.cpp
  void on_frame(std::uint64_t g, const Bytes& frame);
  void dispatch(const Node& n);
  void on_iq(const Node& n);
  void on_notification(const Node& n);

  // message_receive.cpp: <message> → parse, decrypt + inbox row in one fenced transaction, then
  // the delivery receipt and the ack (or a retry receipt, or a NACK)
  void on_message(const Node& n);
  signal::ProtocolStore& protocol_store();
  // Runs a message-store call; false after ending the connection: StoreFenced → lock_lost for
  // good, any other failure → reconnect (nothing was acked, so the server delivers it again).
  bool message_store_call(const char* purpose, const std::function<void()>& call);
  void send_retry_receipt(const Node& n, const MessageInfo& info);

  // offline.cpp: <ib> (offline_preview, offline: the end of the offline batch)
  void on_ib(const Node& n);

  // connection_events.cpp
  enum class Close { abort, graceful };
  // The one way a connection ends: the socket is dropped (its callbacks ignored from then on),
  // pending requests get `disconnected`, the store and the events learn `reason`; then either a
  // reconnect after the backoff or the terminal `failed` state.
  void end_connection(DisconnectReason reason, const std::string& details, bool reconnect,
                      Close how = Close::abort);
  void drop_connection(Close how);
  void cancel_timers();
  void schedule_reconnect(bool now);
  void connect_failed(std::uint64_t g, const std::string& what);
  void on_closed(std::uint64_t g, const socket::WsCloseInfo& info);
  void on_lease_stale(std::uint64_t g);
  void on_verdict(const Verdict& v, const char* what);

  // keepalive.cpp
  void schedule_keepalive();
  void on_keepalive_result(std::uint64_t g, const IqResult& r);

  // prekeys.cpp
  void check_pre_keys(std::uint64_t g, std::function<void()> then);
  void upload_pre_keys(std::size_t want, std::function<void()> then);
  void on_pre_key_notification(const Node& n);
  void on_identity_notification(const Node& n);

  // pair.cpp
  void on_pair_device(const Node& iq_node, const Node& pd);
  void show_qr();
  void on_pair_success(const Node& iq_node, const Node& ps);

  // pair_code_flow.cpp
  void start_pair_code(const std::string& digits, bool show_push,
                       std::shared_ptr<std::promise<std::string>> done);
  void on_link_code_notification(const Node& n);

  // login.cpp
  void on_success(const Node& n);

  // send.cpp: the outbox sender (io thread only). Claimed rows wait in outbox_queue; one is in
  // flight at a time (its usync / bundle IQs); sent ones wait in awaiting_ack for the server's
  // <ack>. A connection that ends before the ack puts them back in front of the queue, so the
  // next login sends them again with the same id.
  DeviceCache device_cache;
  std::deque<OutboxItem> outbox_queue;
  std::map<std::string, OutboxItem> awaiting_ack;
  std::map<std::string, std::string> sent_phash;  // id -> our phash, compared with the ack's
  // id -> (group, devices that got our SKDM with it): stored as holding the key once acked.
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> skdm_pending;
  std::map<std::string, int> retries_answered;  // id -> retry receipts answered (max 5)
  bool outbox_busy = false;
  bool outbox_again = false;
  signal::ProtocolStore* send_protocol();  // protocol_store(), or null when not usable
  void pump_outbox();
  void send_next();
  binary::Jid own_chat_user() const;  // our LID user once we have one, else our phone-number user
  void resolve_chat(OutboxItem item);
  void resolve_devices(OutboxItem item, std::vector<binary::Jid> users);
  void send_with_devices(OutboxItem item, const std::vector<binary::Jid>& users);
  // `to`: the chat as addressed (a phone-number recipient's LID once known).
  void encrypt_and_send(OutboxItem item, const binary::Jid& to, const std::vector<binary::Jid>& devices);
  void finish_item(const OutboxItem& item, OutboxStatus status, const std::string& error);
  void requeue_unacked();
  void send_failed_store(OutboxItem item);
  // An IQ asked for the outbox item being sent: `on_answer` gets the item back with the answer.
  // A timeout or a lost connection puts the item back at the head of the queue (tried again on
  // the next pump or login); an answer after a reconnect (gen) or stop is dropped.
  void outbox_iq(const Node& query, OutboxItem item,
                 std::function<void(OutboxItem, const Node& answer)> on_answer);
  void on_server_ack(const Node& n);
  // receipt_handle.cpp's parse, acted on: statuses, retry answers.
  // True once the receipt is applied (stored where it changes a status): only then is it acked.
  bool on_receipt(const Node& n);
  void answer_retry(const Receipt& r);
  void answer_group_retry(const Receipt& r, const OutboxItem& item, const binary::Jid& group,
                          const OwnIdentity& own, const Bytes& message);
};

}  // namespace wa::client
