// wss:// on loopback: a TLS server with a throwaway certificate for "localhost". Checks that the
// client verifies the chain (only trusted via extra_ca_file) and the host name.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>

#include <asio/ssl.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include "core/socket/websocket_client.h"
#include "test_ws_server.h"

using namespace wa::socket;

namespace {

struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct FileClose { void operator()(FILE* f) const { std::fclose(f); } };

// Self-signed P-256 certificate with SAN DNS:localhost, written as PEM to `pem_path`.
struct TestCert {
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  std::unique_ptr<X509, X509Free> cert;

  explicit TestCert(const std::string& pem_path) {
    key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    REQUIRE(key);
    cert.reset(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      REQUIRE(ext);
      X509_add_ext(cert.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
    REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
    std::unique_ptr<FILE, FileClose> f(std::fopen(pem_path.c_str(), "w"));
    REQUIRE(f);
    REQUIRE(PEM_write_X509(f.get(), cert.get()) == 1);
  }
};

class TlsEchoServer {
 public:
  explicit TlsEchoServer(TestCert& cert)
      : ctx_(asio::ssl::context::tls_server), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    REQUIRE(SSL_CTX_use_certificate(ctx_.native_handle(), cert.cert.get()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(ctx_.native_handle(), cert.key.get()) == 1);
  }
  ~TlsEchoServer() {
    std::error_code ec;
    acceptor_.close(ec);
    if (stream_) stream_->lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    if (thread_.joinable()) thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Echoes one binary message, then answers the client's close.
  void serve() {
    stream_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(io_, ctx_);
    thread_ = std::thread([this] {
      try {
        acceptor_.accept(stream_->lowest_layer());
        stream_->handshake(asio::ssl::stream_base::server);
        wa::test::TestWsConnT<asio::ssl::stream<asio::ip::tcp::socket>> c(*stream_);
        c.upgrade();
        WsMessage m = c.read_message();
        c.send(m.opcode, m.payload);
        WsMessage close = c.read_message();
        c.send(WsOpcode::close, close.payload);
      } catch (const std::exception&) {
        // Expected when the client rejects the certificate.
      }
    });
  }

 private:
  asio::io_context io_;
  asio::ssl::context ctx_;
  asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> stream_;
  std::thread thread_;
};

std::string temp_pem() {
  return (std::filesystem::temp_directory_path() / ("waconn-test-ca-" + std::to_string(::getpid()) + ".pem")).string();
}

}  // namespace

TEST_CASE("wss client verifies the certificate and the host name", "[websocket][tls]") {
  const std::string pem = temp_pem();
  TestCert cert(pem);
  auto run = [&](const std::string& host, bool trust) {
    TlsEchoServer server(cert);
    server.serve();
    asio::io_context io;
    WebSocketClientOptions opts;
    if (trust) opts.extra_ca_file = pem;
    auto ws = WebSocketClient::create(io, opts);
    std::exception_ptr err;
    Bytes echoed;
    ws->set_message_handler([&](WsOpcode, Bytes b) {
      echoed = std::move(b);
      ws->close();
    });
    ws->connect("wss://" + host + ":" + std::to_string(server.port()) + "/ws/chat", [&](std::exception_ptr e) {
      err = e;
      if (!e) ws->send_binary(Bytes{1, 2, 3});
    });
    io.run_for(std::chrono::seconds(10));
    return std::pair{err, echoed};
  };

  SECTION("trusted certificate and matching name") {
    auto [err, echoed] = run("localhost", true);
    REQUIRE_FALSE(err);
    CHECK(echoed == Bytes{1, 2, 3});
  }
  SECTION("untrusted certificate") {
    auto [err, echoed] = run("localhost", false);
    REQUIRE(err);
    CHECK_THROWS_WITH(std::rethrow_exception(err), Catch::Contains("TLS handshake: certificate verify failed"));
  }
  SECTION("name mismatch (certificate is for localhost, URL says 127.0.0.1)") {
    auto [err, echoed] = run("127.0.0.1", true);
    REQUIRE(err);
    CHECK_THROWS_WITH(std::rethrow_exception(err), Catch::Contains("TLS handshake: certificate verify failed"));
  }
  std::filesystem::remove(pem);
}
