// Reconnect backoff, the stream-error/failure table and the stanzas the client sends.
#include <catch2/catch.hpp>

#include "common/backoff.h"
#include "core/binary/decoder.h"
#include "core/binary/encoder.h"
#include "core/client/prekeys.h"
#include "core/client/request.h"
#include "core/client/stanzas.h"
#include "core/client/stream_errors.h"

using namespace wa::client;
using wa::binary::Node;
using wa::binary::NodeList;
using wa::core::DisconnectReason;
using std::chrono::milliseconds;

TEST_CASE("reconnect backoff doubles, caps, jitters within bounds and resets", "[client][backoff]") {
  wa::Backoff b(milliseconds(1000), milliseconds(60000), 0.2, 42);
  const double bases[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
  for (double base : bases) {
    auto d = b.next().count();
    CHECK(d >= static_cast<long>(base * 0.8));
    CHECK(d <= static_cast<long>(base * 1.2));
  }
  CHECK(b.failures() == 9);
  for (int i = 0; i < 1000; ++i) CHECK(b.next().count() <= 72000);  // never overflows past the cap
  b.reset();
  auto d = b.next().count();
  CHECK(d >= 800);
  CHECK(d <= 1200);

  // Jitter really varies (two clients do not retry in lockstep).
  wa::Backoff x(milliseconds(1000), milliseconds(60000), 0.2, 1), y(milliseconds(1000), milliseconds(60000), 0.2, 2);
  bool differs = false;
  for (int i = 0; i < 5; ++i) differs = differs || x.next() != y.next();
  CHECK(differs);
}

namespace {
Node stream_error(const std::string& code, const std::string& conflict = "") {
  Node n{"stream:error", {}, {}};
  if (!code.empty()) n.attrs.push_back({"code", code});
  if (!conflict.empty()) n.content = NodeList{Node{"conflict", {{"type", conflict}}, {}}};
  return n;
}
Node failure(const std::string& reason) { return Node{"failure", {{"reason", reason}, {"location", std::string("x")}}, {}}; }
}  // namespace

TEST_CASE("stream errors map to the reactions of the issue", "[client][errors]") {
  auto v = classify_stream_error(stream_error("515"));
  CHECK(v.reaction == Reaction::reconnect_now);
  v = classify_stream_error(stream_error("503"));
  CHECK(v.reaction == Reaction::reconnect_backoff);
  v = classify_stream_error(stream_error("401"));
  CHECK(v.reaction == Reaction::give_up);
  CHECK(v.reason == DisconnectReason::logged_out);
  v = classify_stream_error(stream_error("401", "device_removed"));
  CHECK(v.reaction == Reaction::give_up);
  CHECK(v.reason == DisconnectReason::logged_out);
  v = classify_stream_error(stream_error("", "replaced"));
  CHECK(v.reaction == Reaction::give_up);
  CHECK(v.reason == DisconnectReason::replaced);
  v = classify_stream_error(stream_error("409", "replaced"));
  CHECK(v.reason == DisconnectReason::replaced);
  v = classify_stream_error(stream_error("403"));
  CHECK(v.reaction == Reaction::give_up);
  CHECK(v.reason == DisconnectReason::error);
  CHECK(v.details.find("403") != std::string::npos);
  v = classify_stream_error(stream_error("999"));
  CHECK(v.reaction == Reaction::give_up);
  CHECK(v.reason == DisconnectReason::error);
  CHECK(v.details.find("999") != std::string::npos);
}

TEST_CASE("login failures map to logged_out, retry or failed", "[client][errors]") {
  CHECK(classify_failure(failure("401")).reason == DisconnectReason::logged_out);
  CHECK(classify_failure(failure("406")).reason == DisconnectReason::logged_out);
  CHECK(classify_failure(failure("503")).reaction == Reaction::reconnect_backoff);
  CHECK(classify_failure(failure("500")).reaction == Reaction::reconnect_backoff);
  auto v = classify_failure(failure("403"));
  CHECK(v.reaction == Reaction::give_up);
  CHECK(v.reason == DisconnectReason::error);
  Node ban{"failure", {{"reason", std::string("402")}, {"code", std::string("101")}, {"expire", std::string("3600")}}, {}};
  v = classify_failure(ban);
  CHECK(v.reaction == Reaction::give_up);
  CHECK(v.details.find("expire_s=3600") != std::string::npos);
}

TEST_CASE("iq ids follow whatsmeow's shape", "[client][stanzas]") {
  IqIds ids;
  auto a = ids.next(), b = ids.next();
  CHECK(a != b);
  auto dash = a.find('-');
  REQUIRE(dash != std::string::npos);
  CHECK(a.substr(dash) == "-1");
  CHECK(b.substr(b.find('-')) == "-2");
  CHECK(a.find('.') < dash);
}

TEST_CASE("keepalive, pre-key and passive stanzas encode and decode as the reference shows", "[client][stanzas]") {
  auto dict = wa::binary::Dict::v3;
  auto ping = wa::binary::decode_frame(wa::binary::encode(keepalive_ping("1.2-3"), dict), dict);
  CHECK(ping.tag == "iq");
  CHECK(ping.attr_text("xmlns") == "w:p");
  CHECK(ping.attr_text("type") == "get");
  CHECK(ping.attr_text("to").value_or("") == "@s.whatsapp.net");  // JID_PAIR with an empty user
  CHECK(ping.children().empty());

  auto dev = DeviceKeys::generate();
  std::vector<PreKey> keys{{1, KeyPair::generate(), false}, {0x123456, KeyPair::generate(), false}};
  auto up = wa::binary::decode_frame(wa::binary::encode(pre_key_upload("x", dev, keys), dict), dict);
  CHECK(up.attr_text("xmlns") == "encrypt");
  CHECK(up.attr_text("type") == "set");
  REQUIRE(up.children().size() == 5);
  const char* order[] = {"registration", "type", "identity", "list", "skey"};
  for (int i = 0; i < 5; ++i) CHECK(up.children()[static_cast<std::size_t>(i)].tag == order[i]);
  CHECK(*up.child("registration")->bytes() == be4(dev.registration_id));
  CHECK(*up.child("type")->bytes() == wa::crypto::Bytes{0x05});
  REQUIRE(up.child("list")->children().size() == 2);
  CHECK(*up.child("list")->children()[1].child("id")->bytes() == wa::crypto::Bytes{0x12, 0x34, 0x56});
  CHECK(up.child("list")->children()[1].child("value")->bytes()->size() == 32);
  CHECK(up.child("skey")->child("signature")->bytes()->size() == 64);

  auto passive = passive_active("p");
  CHECK(passive.attr_text("xmlns") == "passive");
  CHECK(passive.child("active"));
  auto count = pre_key_count("c");
  CHECK(count.attr_text("xmlns") == "encrypt");
  CHECK(count.child("count"));
}

TEST_CASE("acks copy what whatsmeow copies", "[client][stanzas]") {
  Node msg{"message", {{"id", std::string("M1")}, {"from", std::string("1555@s.whatsapp.net")}, {"type", std::string("text")},
                       {"participant", std::string("1666@s.whatsapp.net")}}, {}};
  auto a = ack_for(msg);
  CHECK(a.attr_text("class") == "message");
  CHECK(a.attr_text("id") == "M1");
  CHECK(a.attr_text("to") == "1555@s.whatsapp.net");
  CHECK(a.attr_text("participant") == "1666@s.whatsapp.net");
  CHECK_FALSE(a.attr("type"));  // not for messages
  Node notif{"notification", {{"id", std::string("N1")}, {"from", std::string("s.whatsapp.net")}, {"type", std::string("encrypt")}}, {}};
  CHECK(ack_for(notif).attr_text("type") == "encrypt");
}

TEST_CASE("pair-device-sign and pair errors have the reference's shape", "[client][stanzas]") {
  auto s = pair_device_sign("I2", 3, wa::crypto::Bytes{1, 2, 3});
  CHECK(s.attr_text("type") == "result");
  CHECK(s.attr_text("id") == "I2");
  const Node* di = s.child("pair-device-sign") ? s.child("pair-device-sign")->child("device-identity") : nullptr;
  REQUIRE(di);
  CHECK(di->attr_text("key-index") == "3");
  CHECK(*di->bytes() == wa::crypto::Bytes{1, 2, 3});
  auto e = pair_error("I2", 401, "hmac-mismatch");
  CHECK(e.attr_text("type") == "error");
  CHECK(e.child("error")->attr_text("code") == "401");
  CHECK(e.child("error")->attr_text("text") == "hmac-mismatch");
  Node req{"iq", {{"from", std::string("s.whatsapp.net")}, {"id", std::string("I1")}, {"type", std::string("set")}}, {}};
  auto r = iq_result(req);
  CHECK(r.attr_text("to").value_or("") == "s.whatsapp.net");  // copied from the request
  CHECK(r.attr_text("id") == "I1");
  CHECK(r.attr_text("type") == "result");
}

TEST_CASE("the pre-key count is read the same from an iq answer and a notification", "[client][prekeys]") {
  auto with_count = [](const std::string& tag, const std::string& v) {
    return Node{tag, {}, NodeList{Node{"count", {{"value", v}}, {}}}};
  };
  CHECK(wa::client::pre_key_count_of(with_count("iq", "0")) == 0u);
  CHECK(wa::client::pre_key_count_of(with_count("notification", "49")) == 49u);
  CHECK(wa::client::pre_key_count_of(with_count("iq", "99999999")) == 99999999u);
  CHECK_FALSE(wa::client::pre_key_count_of(with_count("iq", "999999999")));  // 9 digits: refused
  CHECK_FALSE(wa::client::pre_key_count_of(with_count("iq", "-1")));
  CHECK_FALSE(wa::client::pre_key_count_of(with_count("iq", "")));
  CHECK_FALSE(wa::client::pre_key_count_of(Node{"iq", {}, {}}));
}

TEST_CASE("IQ results are typed: response, timeout, disconnected", "[client][request]") {
  Node ok{"iq", {{"type", std::string("result")}, {"id", std::string("1")}}, {}};
  Node err{"iq", {{"type", std::string("error")}, {"id", std::string("1")}}, {}};
  CHECK(wa::client::IqResult::response(ok).ok());
  CHECK(wa::client::IqResult::response(ok).describe() == "result");
  CHECK_FALSE(wa::client::IqResult::response(err).ok());
  CHECK(wa::client::IqResult::response(err).answered());
  CHECK(wa::client::IqResult::response(err).describe() == "error");
  CHECK_FALSE(wa::client::IqResult::timed_out().answered());
  CHECK(wa::client::IqResult::timed_out().describe() == "timeout");
  CHECK(wa::client::IqResult::gone().describe() == "disconnected");
}
