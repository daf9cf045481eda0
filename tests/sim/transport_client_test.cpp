// wasim against the project's own client transport (core/socket connect_and_handshake): the
// same code waconnector runs against WhatsApp.
#include <catch2/catch.hpp>

#include <asio.hpp>

#include "core/binary/decoder.h"
#include "core/socket/cert_chain.h"
#include "core/socket/client_connect.h"
#include "tests/sim/harness.h"

using namespace wa::simtest;

namespace {

struct Outcome {
  std::exception_ptr error;
  std::optional<wa::binary::Node> first_node;
};

Outcome connect_once(const WasimProcess& w, const wa::crypto::Key32& root, std::uint8_t dict) {
  asio::io_context io;
  wa::socket::ClientConnectOptions o;
  o.url = "ws://127.0.0.1:" + std::to_string(w.ws_port()) + "/ws/chat";
  o.trusted_root = root;
  o.noise_key = wa::crypto::KeyPair::generate();
  o.client_payload = registration_payload();
  o.dict_version = dict;
  Outcome out;
  std::shared_ptr<wa::socket::FrameSocket> sock;
  wa::socket::connect_and_handshake(io, o, [&](std::exception_ptr e, std::shared_ptr<wa::socket::FrameSocket> s) {
    out.error = e;
    sock = s;
    if (!s) return;
    s->set_frame_handler([&, dict](wa::crypto::Bytes frame) {
      if (!out.first_node) out.first_node = wa::binary::decode_frame(frame, static_cast<wa::binary::Dict>(dict));
      sock->close();
    });
  });
  io.run_for(std::chrono::seconds(10));
  if (sock) sock->abort();
  sock.reset();
  return out;
}

}  // namespace

TEST_CASE("the client transport completes the handshake with wasim and gets pair-device", "[sim][process][client]") {
  TempDir dir;
  WasimProcess w(dir.path());
  for (std::uint8_t dict : {std::uint8_t{3}, std::uint8_t{2}}) {
    INFO("dict " << int(dict));
    auto out = connect_once(w, wa::crypto::key32_from_hex(w.root_key_hex()), dict);
    REQUIRE_FALSE(out.error);
    REQUIRE(out.first_node);
    CHECK(out.first_node->tag == "iq");
    REQUIRE(out.first_node->child("pair-device"));
    CHECK(out.first_node->child("pair-device")->children().size() == 6);
  }
}

TEST_CASE("the client transport refuses wasim under the production root key", "[sim][process][client]") {
  TempDir dir;
  WasimProcess w(dir.path());
  auto out = connect_once(w, wa::socket::wa_production_root_key(), 3);
  REQUIRE(out.error);
  CHECK_THROWS_AS(std::rethrow_exception(out.error), wa::socket::CertChainError);
  CHECK_FALSE(out.first_node);
}
