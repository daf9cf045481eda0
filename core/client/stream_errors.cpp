#include "core/client/stream_errors.h"

namespace wa::client {

using core::DisconnectReason;

Verdict classify_stream_error(const binary::Node& node) {
  const std::string code = node.attr_text("code").value_or("");
  const binary::Node* conflict = node.child("conflict");
  const std::string conflict_type = conflict ? conflict->attr_text("type").value_or("") : "";
  std::string first_child = node.children().empty() ? "" : node.children().front().tag;
  std::string details = "stream error";
  if (!code.empty()) details += " code=" + code;
  if (conflict) details += " conflict=" + conflict_type;
  else if (!first_child.empty()) details += " child=" + first_child;

  if (conflict_type == "replaced") return {Reaction::give_up, DisconnectReason::replaced, details + " (another client logged in with these credentials)"};
  if (conflict_type == "device_removed") return {Reaction::give_up, DisconnectReason::logged_out, details + " (device removed from the phone)"};
  if (code == "515") return {Reaction::reconnect_now, DisconnectReason::unknown, details + " (restart required)"};
  if (code == "503") return {Reaction::reconnect_backoff, DisconnectReason::error, details + " (service unavailable)"};
  if (code == "401") return {Reaction::give_up, DisconnectReason::logged_out, details + " (logged out)"};
  if (code == "403") return {Reaction::give_up, DisconnectReason::error, details + " (forbidden)"};
  return {Reaction::give_up, DisconnectReason::error, details + " (unknown)"};
}

Verdict classify_failure(const binary::Node& node) {
  const std::string reason = node.attr_text("reason").value_or("");
  std::string details = "login failure reason=" + (reason.empty() ? std::string("none") : reason);
  if (auto m = node.attr_text("message")) details += " message=" + *m;
  if (reason == "401") return {Reaction::give_up, DisconnectReason::logged_out, details + " (logged out)"};
  if (reason == "406") return {Reaction::give_up, DisconnectReason::logged_out, details + " (banned)"};
  if (reason == "500" || reason == "503") return {Reaction::reconnect_backoff, DisconnectReason::error, details + " (server error)"};
  if (reason == "402") {
    details += " (temporarily banned";
    if (auto c = node.attr_text("code")) details += " code=" + *c;
    if (auto e = node.attr_text("expire")) details += " expire_s=" + *e;
    details += ")";
    return {Reaction::give_up, DisconnectReason::error, details};
  }
  if (reason == "403") return {Reaction::give_up, DisconnectReason::error, details + " (main device gone / locked)"};
  if (reason == "405") return {Reaction::give_up, DisconnectReason::error, details + " (client outdated)"};
  return {Reaction::give_up, DisconnectReason::error, details};
}

}  // namespace wa::client
