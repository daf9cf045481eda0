#include "core/client/message_content.h"

#include <algorithm>
#include <set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/unknown_field_set.h>

#include "wa_message.pb.h"

namespace wa::client {

namespace {

constexpr int kMessageContextInfoField = 35;

std::string field_name(int number) {
  // Names only for fields the references document; the rest keep their number.
  switch (number) {
    case 46: return "reaction";
    case 58: return "edited";
    default: {
      std::string s = "field_";
      s += std::to_string(number);
      return s;
    }
  }
}

std::string checked_text(const std::string& s, const MessageLimits& limits, const char* what) {
  if (s.size() > limits.max_text_bytes)
    throw MessageDecodeError(std::string(what) + " of " + std::to_string(s.size()) +
                             " bytes is over the limit");
  if (!valid_utf8(s)) throw MessageDecodeError(std::string(what) + " is not valid UTF-8");
  return s;
}

void parse(proto::Message& m, crypto::ByteView data, const MessageLimits& limits) {
  if (data.size() > limits.max_bytes)
    throw MessageDecodeError("message of " + std::to_string(data.size()) + " bytes is over the limit");
  google::protobuf::io::CodedInputStream in(data.data(), static_cast<int>(data.size()));
  in.SetRecursionLimit(limits.max_depth);
  if (!m.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
    throw MessageDecodeError("message is not a valid protobuf");
}

void fill(MessageContent& out, const proto::Message& m, const MessageLimits& limits) {
  std::vector<std::string> kinds;
  if (m.has_conversation()) {
    out.text = checked_text(m.conversation(), limits, "conversation");
  } else if (m.has_extended_text_message() && m.extended_text_message().has_text()) {
    out.text = checked_text(m.extended_text_message().text(), limits, "extended text");
  }
  if (m.has_extended_text_message() && m.extended_text_message().has_context_info()) {
    const auto& ctx = m.extended_text_message().context_info();
    if (ctx.has_stanza_id()) {
      const auto& q = ctx.quoted_message();
      out.quote = Quote{checked_text(ctx.stanza_id(), limits, "quoted id"),
                        checked_text(ctx.participant(), limits, "quoted participant"),
                        q.has_conversation() ? checked_text(q.conversation(), limits, "quoted text") : std::string()};
    }
  }
  if (out.text || m.has_extended_text_message()) kinds.push_back("text");
  if (m.has_sender_key_distribution_message()) {
    const auto& s = m.sender_key_distribution_message();
    SenderKeyDistribution d;
    d.group_id = checked_text(s.group_id(), limits, "sender key group id");
    d.distribution.assign(s.axolotl_sender_key_distribution_message().begin(),
                          s.axolotl_sender_key_distribution_message().end());
    out.sender_key_distribution = std::move(d);
  }
  if (m.has_protocol_message()) {
    const auto& p = m.protocol_message();
    ProtocolContent c;
    c.type = p.type();
    c.key_remote_jid = p.key().remote_jid();
    c.key_from_me = p.key().from_me();
    c.key_id = p.key().id();
    c.key_participant = p.key().participant();
    out.protocol = std::move(c);
    kinds.push_back("protocol");
  }
  std::set<int> others;
  const auto& unknown = m.GetReflection()->GetUnknownFields(m);
  for (int i = 0; i < unknown.field_count(); ++i) {
    int n = unknown.field(i).number();
    if (n != kMessageContextInfoField) others.insert(n);
  }
  out.other_fields.assign(others.begin(), others.end());
  for (int n : out.other_fields) kinds.push_back(field_name(n));
  if (!kinds.empty()) {
    out.type.clear();
    for (const auto& k : kinds) {
      if (!out.type.empty()) out.type += ',';
      out.type += k;
    }
  } else {
    out.type = out.sender_key_distribution ? "sender_key_distribution" : "empty";
  }
}

crypto::Bytes serialize(const proto::Message& m) {
  std::string s;
  if (!m.SerializeToString(&s)) throw MessageDecodeError("could not serialize message");
  return crypto::Bytes(s.begin(), s.end());
}

}  // namespace

MessageContent decode_message(crypto::ByteView plaintext, const MessageLimits& limits) {
  proto::Message m;
  parse(m, plaintext, limits);
  MessageContent out;
  if (m.has_device_sent_message()) {
    const auto& dsm = m.device_sent_message();
    out.device_sent_destination = checked_text(dsm.destination_jid(), limits, "device-sent destination");
    if (dsm.has_phash()) out.device_sent_phash = checked_text(dsm.phash(), limits, "device-sent phash");
    const proto::Message& inner = dsm.message();
    // Our own devices wrap once; a wrapper inside a wrapper is not something a client sends.
    if (inner.has_device_sent_message()) throw MessageDecodeError("nested device-sent message");
    fill(out, inner, limits);
    out.raw = serialize(inner);
    return out;
  }
  fill(out, m, limits);
  out.raw.assign(plaintext.begin(), plaintext.end());
  return out;
}

crypto::Bytes encode_text_message(const std::string& text, const std::optional<Quote>& quote) {
  proto::Message m;
  if (!quote) {
    m.set_conversation(text);
    return serialize(m);
  }
  auto* ext = m.mutable_extended_text_message();
  ext->set_text(text);
  auto* ctx = ext->mutable_context_info();
  ctx->set_stanza_id(quote->id);
  ctx->set_participant(quote->sender);
  ctx->mutable_quoted_message()->set_conversation(quote->text);
  return serialize(m);
}

crypto::Bytes encode_sender_key_distribution(const std::string& group_id, crypto::ByteView distribution) {
  proto::Message m;
  auto* s = m.mutable_sender_key_distribution_message();
  s->set_group_id(group_id);
  s->set_axolotl_sender_key_distribution_message(std::string(distribution.begin(), distribution.end()));
  return serialize(m);
}

crypto::Bytes encode_device_sent(const std::string& destination_jid, crypto::ByteView message) {
  proto::Message original;
  if (!original.ParseFromArray(message.data(), static_cast<int>(message.size())))
    throw MessageDecodeError("device-sent: the original is not a valid protobuf");
  proto::Message m;
  auto* dsm = m.mutable_device_sent_message();
  dsm->set_destination_jid(destination_jid);
  if (original.has_message_context_info()) m.set_message_context_info(original.message_context_info());
  *dsm->mutable_message() = std::move(original);
  return serialize(m);
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace wa::client
