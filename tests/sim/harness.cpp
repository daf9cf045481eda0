#include "tests/sim/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/crypto/digest.h"
#include "core/crypto/random.h"
#include "core/crypto/xeddsa.h"
#include "core/socket/noise_state.h"
#include "wa_client_payload.pb.h"
#include "wa_handshake.pb.h"

namespace wa::simtest {
namespace {

using Clock = std::chrono::steady_clock;

int connect_local(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error("connect 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(e));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

void write_all(int fd, const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw std::runtime_error("send: " + std::string(std::strerror(errno)));
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Reads once, waiting until `deadline`. Returns bytes read (0 = EOF); throws on timeout.
std::size_t read_some(int fd, char* buf, std::size_t cap, Clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) throw std::runtime_error("timed out waiting for data");
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error("poll: " + std::string(std::strerror(errno)));
    if (r == 0) continue;
    ssize_t n = ::recv(fd, buf, cap, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ECONNRESET) return 0;
    if (n < 0) throw std::runtime_error("recv: " + std::string(std::strerror(errno)));
    return static_cast<std::size_t>(n);
  }
}

std::string random_ws_key() {
  auto b = crypto::random_bytes(16);
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < 16; i += 3) {
    std::uint32_t v = std::uint32_t{b[i]} << 16;
    if (i + 1 < 16) v |= std::uint32_t{b[i + 1]} << 8;
    if (i + 2 < 16) v |= b[i + 2];
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += i + 1 < 16 ? tbl[(v >> 6) & 63] : '=';
    out += i + 2 < 16 ? tbl[v & 63] : '=';
  }
  return out;
}

crypto::ByteView bv(const std::string& s) { return crypto::view(s); }

}  // namespace

std::filesystem::path wasim_path() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d && *d) return std::filesystem::path(d) / "wasim";
  // Fallback: test executables and wasim share <build>/bin.
  return std::filesystem::read_symlink("/proc/self/exe").parent_path() / "wasim";
}

std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "wasim-test.XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

WasimProcess::WasimProcess(const std::filesystem::path& state_dir, std::vector<std::string> extra_args) {
  auto bin = wasim_path();
  if (!std::filesystem::exists(bin)) throw std::runtime_error("wasim binary not found at " + bin.string());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(fds[1], 2);
    std::string st = state_dir.string();
    std::vector<const char*> argv = {bin.c_str(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--state",
                                     st.c_str()};
    for (const auto& a : extra_args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  ::close(fds[1]);
  err_fd_ = fds[0];
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && ws_port_ == 0) {
    read_available(100ms);
    for (const auto& l : lines_) {
      if (l.find("\"wasim_root_key\"") != std::string::npos) root_key_hex_ = json_field(l, "root_public_key").value_or("");
      if (l.find("\"wasim_listening\"") != std::string::npos) {
        ws_port_ = std::stoi(json_field(l, "ws_port").value_or("0"));
        admin_port_ = std::stoi(json_field(l, "admin_port").value_or("0"));
      }
    }
    int status = 0;
    if (ws_port_ == 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("wasim exited during start-up");
    }
  }
  if (ws_port_ == 0) throw std::runtime_error("wasim printed no listening line within 10 s");
}

WasimProcess::~WasimProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (err_fd_ >= 0) ::close(err_fd_);
}

void WasimProcess::read_available(std::chrono::milliseconds wait) {
  pollfd p{err_fd_, POLLIN, 0};
  while (::poll(&p, 1, static_cast<int>(wait.count())) > 0) {
    char buf[4096];
    ssize_t n = ::read(err_fd_, buf, sizeof(buf));
    if (n <= 0) break;
    partial_.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      lines_.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
    wait = 0ms;
  }
}

std::vector<std::string> WasimProcess::log_lines() {
  read_available(0ms);
  return lines_;
}

int WasimProcess::terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      read_available(0ms);
      return status;
    }
    read_available(20ms);  // keeps the pipe drained so wasim never blocks on a log write
  }
  return -1;
}

HttpResponse http_request(int port, const std::string& method, const std::string& target) {
  return http_request(port, method, target, std::string());
}

HttpResponse http_request(int port, const std::string& method, const std::string& target, const std::string& body) {
  int fd = connect_local(port);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!body.empty())
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  std::string resp;
  try {
    write_all(fd, req.data(), req.size());
    auto deadline = Clock::now() + 25s;  // /link-code answers when the client has finished
    char buf[4096];
    while (std::size_t n = read_some(fd, buf, sizeof(buf), deadline)) resp.append(buf, n);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  HttpResponse r;
  if (resp.rfind("HTTP/1.1 ", 0) != 0) throw std::runtime_error("not an HTTP response: " + resp.substr(0, 40));
  r.status = std::stoi(resp.substr(9, 3));
  auto head_end = resp.find("\r\n\r\n");
  if (head_end != std::string::npos) r.body = resp.substr(head_end + 4);
  return r;
}

std::optional<std::string> json_field(const std::string& json, const std::string& key) {
  auto k = json.find("\"" + key + "\":");
  if (k == std::string::npos) return std::nullopt;
  auto p = k + key.size() + 3;
  if (p < json.size() && json[p] == '"') {
    auto e = json.find('"', p + 1);
    if (e == std::string::npos) return std::nullopt;
    return json.substr(p + 1, e - p - 1);
  }
  auto e = json.find_first_of(",}]", p);
  return json.substr(p, e == std::string::npos ? std::string::npos : e - p);
}

WsClient::WsClient(int port, const std::string& path) {
  fd_ = connect_local(port);
  std::string req = "GET " + path +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: " +
                    random_ws_key() + "\r\nSec-WebSocket-Version: 13\r\nOrigin: https://web.whatsapp.com\r\n\r\n";
  write_all(fd_, req.data(), req.size());
  std::string head;
  auto deadline = Clock::now() + 5s;
  while (head.find("\r\n\r\n") == std::string::npos) {
    char c;
    // One byte at a time: nothing after the header block may be consumed here.
    if (read_some(fd_, &c, 1, deadline) == 0) break;
    head += c;
    if (head.size() > 8192) throw std::runtime_error("upgrade response too long");
  }
  if (head.rfind("HTTP/1.1 ", 0) == 0) upgrade_status_ = std::stoi(head.substr(9, 3));
}

WsClient::~WsClient() {
  if (fd_ >= 0) ::close(fd_);
}

void WsClient::send_binary(const crypto::Bytes& payload) {
  auto f = socket::encode_ws_frame_masked(socket::WsOpcode::binary, payload);
  write_all(fd_, f.data(), f.size());
}

void WsClient::send_raw(const std::string& bytes) { write_all(fd_, bytes.data(), bytes.size()); }

bool WsClient::fill(Clock::time_point deadline) {
  if (eof_) return false;
  char buf[16384];
  std::size_t n = read_some(fd_, buf, sizeof(buf), deadline);
  if (n == 0) {
    eof_ = true;
    return false;
  }
  parser_.feed(crypto::view(std::string_view(buf, n)));
  return true;
}

std::optional<crypto::Bytes> WsClient::recv_binary(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    while (auto m = parser_.next()) {
      if (m->opcode == socket::WsOpcode::binary) return std::move(m->payload);
      if (m->opcode == socket::WsOpcode::close) {
        close_code_ = m->payload.size() >= 2 ? static_cast<std::uint16_t>((m->payload[0] << 8) | m->payload[1]) : 1005;
        return std::nullopt;
      }
    }
    if (close_code_ || !fill(deadline)) return std::nullopt;
  }
}

bool WsClient::wait_closed(std::chrono::milliseconds timeout) {
  try {
    return !recv_binary(timeout).has_value();
  } catch (const std::runtime_error&) {
    return false;
  }
}

WaTestClient::WaTestClient(int port, std::uint8_t dict_version, bool ed_prefix)
    : ws_(port), dict_version_(dict_version), ed_prefix_(ed_prefix) {}

crypto::Bytes WaTestClient::handshake(const crypto::KeyPair& noise_key, const crypto::Bytes& client_payload,
                                      crypto::Key32& server_static) {
  socket::NoiseState ns;
  const auto header = socket::connection_header(dict_version_);
  ns.mix_hash(header);
  auto eph = crypto::KeyPair::generate();
  ns.mix_hash(eph.pub);

  proto::HandshakeMessage hello;
  hello.mutable_client_hello()->set_ephemeral(eph.pub.data(), eph.pub.size());
  crypto::Bytes first;
  if (ed_prefix_) {
    // Baileys' routing-info prefix: "ED" 0 1, 3-byte length, blob; not part of the prologue.
    const crypto::Bytes blob = {0x08, 0x01, 0x10, 0x02};
    first = {'E', 'D', 0, 1, 0, 0, static_cast<std::uint8_t>(blob.size())};
    first.insert(first.end(), blob.begin(), blob.end());
  }
  first.insert(first.end(), header.begin(), header.end());
  socket::append_frame(first, bv(hello.SerializeAsString()));
  ws_.send_binary(first);

  auto frame = recv_frame(5000ms);
  if (!frame) throw std::runtime_error("connection closed before ServerHello");
  proto::HandshakeMessage resp;
  if (!resp.ParseFromArray(frame->data(), static_cast<int>(frame->size())) || !resp.has_server_hello())
    throw std::runtime_error("no ServerHello");
  const auto& sh = resp.server_hello();
  auto server_eph = crypto::key32_from(bv(sh.ephemeral()), "server ephemeral");
  ns.mix_hash(server_eph);
  ns.mix_key(crypto::x25519(eph.priv, server_eph));
  server_static = crypto::key32_from(ns.decrypt(bv(sh.static_())), "server static");
  ns.mix_key(crypto::x25519(eph.priv, server_static));
  crypto::Bytes cert = ns.decrypt(bv(sh.payload()));
  auto enc_static = ns.encrypt(noise_key.pub);
  ns.mix_key(crypto::x25519(noise_key.priv, server_eph));
  auto enc_payload = ns.encrypt(client_payload);

  proto::HandshakeMessage fin;
  fin.mutable_client_finish()->set_static_(enc_static.data(), enc_static.size());
  fin.mutable_client_finish()->set_payload(enc_payload.data(), enc_payload.size());
  ws_.send_binary(socket::encode_frame(bv(fin.SerializeAsString())));
  auto [c2s, s2c] = ns.split();
  transport_.emplace(c2s, s2c);
  return cert;
}

void WaTestClient::send_node(const binary::Node& node) {
  auto plain = binary::encode(node, static_cast<binary::Dict>(dict_version_));
  ws_.send_binary(socket::encode_frame(transport_->encrypt(plain)));
}

std::optional<crypto::Bytes> WaTestClient::recv_frame(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (auto f = reader_.next_frame()) return f;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) throw std::runtime_error("timed out waiting for a frame");
    auto msg = ws_.recv_binary(left);
    if (!msg) return std::nullopt;
    reader_.feed(*msg);
  }
}

std::optional<binary::Node> WaTestClient::recv_node(std::chrono::milliseconds timeout) {
  auto frame = recv_frame(timeout);
  if (!frame) return std::nullopt;
  return binary::decode_frame(transport_->decrypt(*frame), static_cast<binary::Dict>(dict_version_));
}

namespace {

void base_payload(proto::ClientPayload& p) {
  auto* ua = p.mutable_user_agent();
  ua->set_platform(proto::ClientPayload::UserAgent::WEB);
  auto* v = ua->mutable_app_version();
  v->set_primary(2);
  v->set_secondary(3000);
  v->set_tertiary(1045649367);
  ua->set_mcc("000");
  ua->set_mnc("000");
  ua->set_os_version("0.1");
  ua->set_device("Desktop");
  ua->set_os_build_number("0.1");
  ua->set_release_channel(proto::ClientPayload::UserAgent::RELEASE);
  ua->set_locale_language_iso_639_1("en");
  ua->set_locale_country_iso_3166_1_alpha_2("US");
  p.mutable_web_info()->set_web_sub_platform(proto::ClientPayload::WebInfo::WEB_BROWSER);
  p.set_connect_type(proto::ClientPayload::WIFI_UNKNOWN);
  p.set_connect_reason(proto::ClientPayload::USER_ACTIVATED);
}

crypto::Bytes serialize(const google::protobuf::MessageLite& m) {
  auto s = m.SerializeAsString();
  return crypto::Bytes(s.begin(), s.end());
}

}  // namespace

crypto::Bytes registration_payload() { return registration_payload(crypto::KeyPair::generate()); }

crypto::Bytes registration_payload(const crypto::KeyPair& identity) {
  proto::ClientPayload p;
  base_payload(p);
  p.set_passive(false);
  p.set_pull(false);
  auto spk = crypto::KeyPair::generate();
  crypto::Bytes to_sign = {0x05};
  to_sign.insert(to_sign.end(), spk.pub.begin(), spk.pub.end());
  auto sig = crypto::xeddsa_sign(identity.priv, to_sign);
  auto* pd = p.mutable_device_pairing_data();
  const std::uint8_t regid[4] = {0x00, 0x00, 0x30, 0x39};
  pd->set_e_regid(regid, 4);
  pd->set_e_keytype(std::string(1, '\x05'));
  pd->set_e_ident(identity.pub.data(), identity.pub.size());
  pd->set_e_skey_id(std::string("\x00\x00\x01", 3));
  pd->set_e_skey_val(spk.pub.data(), spk.pub.size());
  pd->set_e_skey_sig(sig.data(), sig.size());
  auto hash = crypto::md5(crypto::view(std::string_view("2.3000.1045649367")));
  pd->set_build_hash(hash.data(), hash.size());
  return serialize(p);
}

crypto::Bytes login_payload(std::uint64_t user, std::uint32_t device) {
  proto::ClientPayload p;
  base_payload(p);
  p.set_username(user);
  p.set_device(device);
  p.set_passive(true);
  p.set_pull(true);
  p.set_lid_db_migrated(true);
  p.set_lc(1);
  return serialize(p);
}

}  // namespace wa::simtest
