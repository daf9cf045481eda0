// IQ requests as whatsmeow's request.go sees them: every request ends in exactly one typed
// result, the server's answer, a timeout, or the connection going away first.
#pragma once

#include <functional>
#include <string>

#include "core/binary/node.h"

namespace wa::client {

struct IqResult {
  enum class Kind { response, timeout, disconnected };
  Kind kind = Kind::disconnected;
  const binary::Node* node = nullptr;  // the answering <iq>; set only for `response`

  static IqResult response(const binary::Node& n) { return IqResult{Kind::response, &n}; }
  static IqResult timed_out() { return IqResult{Kind::timeout, nullptr}; }
  static IqResult gone() { return IqResult{Kind::disconnected, nullptr}; }

  bool answered() const { return kind == Kind::response; }
  // An answer of type "result" (not "error").
  bool ok() const { return answered() && node->attr_text("type").value_or("") == "result"; }
  // For logs: "result", "error", "timeout" or "disconnected".
  std::string describe() const;
};

using IqHandler = std::function<void(const IqResult&)>;

}  // namespace wa::client
