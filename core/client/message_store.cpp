#include "core/client/message_store.h"

namespace wa::client {

const char* to_string(OutboxStatus s) {
  switch (s) {
    case OutboxStatus::queued: return "queued";
    case OutboxStatus::sent: return "sent";
    case OutboxStatus::delivered: return "delivered";
    case OutboxStatus::read: return "read";
    case OutboxStatus::failed: return "failed";
  }
  return "unknown";
}

}  // namespace wa::client
