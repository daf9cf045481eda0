// Test harness for wasim: runs the real binary on ephemeral ports, talks HTTP to its admin API
// and WebSocket + Noise to its chat endpoint, with POSIX sockets and poll() deadlines so that no
// test can hang.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/binary/node.h"
#include "core/binary/tokens.h"
#include "core/crypto/x25519.h"
#include "core/socket/frame_codec.h"
#include "core/socket/noise_transport.h"
#include "core/socket/websocket_frame.h"

namespace wa::simtest {

using namespace std::chrono_literals;

// The wasim binary: $WACONN_BIN_DIR/wasim, else next to this test's build tree.
std::filesystem::path wasim_path();

// The whole content of a (state) file; "" when it cannot be read.
std::string file_text(const std::filesystem::path& p);

// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class WasimProcess {
 public:
  // Starts wasim on 127.0.0.1:0 for both ports and waits (up to 10 s) for its listening line.
  explicit WasimProcess(const std::filesystem::path& state_dir, std::vector<std::string> extra_args = {});
  ~WasimProcess();  // SIGKILL if still running
  WasimProcess(const WasimProcess&) = delete;
  WasimProcess& operator=(const WasimProcess&) = delete;

  int ws_port() const { return ws_port_; }
  int admin_port() const { return admin_port_; }
  const std::string& root_key_hex() const { return root_key_hex_; }  // from the log line
  // Sends SIGTERM and returns the exit status (waitpid), or -1 if it did not exit within `timeout`.
  int terminate(std::chrono::milliseconds timeout = 5000ms);
  // All stderr lines read so far (reads what is pending first).
  std::vector<std::string> log_lines();

 private:
  void read_available(std::chrono::milliseconds wait);
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
  int ws_port_ = 0;
  int admin_port_ = 0;
  std::string root_key_hex_;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};
HttpResponse http_request(int port, const std::string& method, const std::string& target);
// With a JSON body (Content-Type: application/json).
HttpResponse http_request(int port, const std::string& method, const std::string& target, const std::string& body);

// A string field or number of a flat JSON object, found textually ("key":"value" / "key":123).
// Enough for our own well-formed admin answers; not a JSON parser.
std::optional<std::string> json_field(const std::string& json, const std::string& key);

// A blocking WebSocket client on a raw socket, every read bounded by a deadline.
class WsClient {
 public:
  WsClient(int port, const std::string& path = "/ws/chat");
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  int upgrade_status() const { return upgrade_status_; }
  void send_binary(const crypto::Bytes& payload);
  void send_raw(const std::string& bytes);  // bypasses WebSocket framing
  // Next binary message; nullopt if the server closed (close frame or EOF) first.
  // Throws std::runtime_error on timeout.
  std::optional<crypto::Bytes> recv_binary(std::chrono::milliseconds timeout = 5000ms);
  // True if the server closes (close frame or EOF) within `timeout` without sending data first.
  bool wait_closed(std::chrono::milliseconds timeout = 5000ms);
  std::optional<std::uint16_t> close_code() const { return close_code_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);  // false on EOF
  int fd_ = -1;
  int upgrade_status_ = 0;
  socket::WsFrameParser parser_{socket::WsFrameParser::Peer::server};
  std::optional<std::uint16_t> close_code_;
  bool eof_ = false;
};

// The client side of the WhatsApp connection: connection header, Noise XX initiator (reference
// §2 steps 1-13), then node frames. Built from the transport engineer's pieces.
class WaTestClient {
 public:
  WaTestClient(int port, std::uint8_t dict_version, bool ed_prefix = false);
  // Runs the handshake. Returns the decrypted certificate chain; `server_static` gets the key.
  crypto::Bytes handshake(const crypto::KeyPair& noise_key, const crypto::Bytes& client_payload,
                          crypto::Key32& server_static);
  void send_node(const binary::Node& node);
  // Next node from the server; nullopt if the connection closed first.
  std::optional<binary::Node> recv_node(std::chrono::milliseconds timeout = 5000ms);
  WsClient& ws() { return ws_; }

 private:
  std::optional<crypto::Bytes> recv_frame(std::chrono::milliseconds timeout);
  WsClient ws_;
  std::uint8_t dict_version_;
  bool ed_prefix_;
  socket::FrameReader reader_{false};
  std::optional<socket::NoiseTransport> transport_;
};

// ClientPayload bytes like the reference's registration (§4) and login payloads.
crypto::Bytes registration_payload();
// The same with the given Signal identity (tests that answer pair-success need its private key).
crypto::Bytes registration_payload(const crypto::KeyPair& identity);
crypto::Bytes login_payload(std::uint64_t user, std::uint32_t device);

}  // namespace wa::simtest
