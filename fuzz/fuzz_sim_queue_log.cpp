// libFuzzer target for wasim's queue log parser (sim/pending_queue.h: the append-only
// <state>/queue.log read back at start-up, where a damaged or foreign file must be refused, not
// trusted). Small limits so the fuzzer reaches them.
// Beyond "no crash": every record it returns respects the limits it was given, and what it accepts
// parses again to the same records once written back in the log's own format.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/crypto/bytes.h"
#include "sim/pending_queue.h"

namespace sim = wa::sim;

namespace {

std::string write_back(const sim::QueueRecord& r) {
  const std::string dev = std::to_string(r.device.first) + ":" + std::to_string(r.device.second);
  switch (r.op) {
    case sim::QueueRecord::Op::add:
      return "a\t" + dev + "\t" + r.cls + "\t" + r.id + "\t" + wa::crypto::to_hex(r.stanza) + "\n";
    case sim::QueueRecord::Op::drop: return "d\t" + dev + "\t" + r.cls + "\t" + r.id + "\n";
    case sim::QueueRecord::Op::clear: return "c\t" + dev + "\n";
  }
  return {};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sim::QueueLimits lim;
  lim.max_stanza_bytes = 64;
  lim.max_id_bytes = 16;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<sim::QueueRecord> recs;
  try {
    recs = sim::parse_queue_log(text, lim);
  } catch (const sim::QueueLogError&) {
    return 0;
  }
  std::string again;
  for (const auto& r : recs) {
    if (r.stanza.size() > lim.max_stanza_bytes || r.id.size() > lim.max_id_bytes) std::abort();
    if (r.op != sim::QueueRecord::Op::clear && r.cls != "message" && r.cls != "receipt") std::abort();
    if (r.op == sim::QueueRecord::Op::add && r.stanza.empty()) std::abort();
    if (r.device.second > 65535) std::abort();
    again += write_back(r);
  }
  auto recs2 = sim::parse_queue_log(again, lim);
  if (recs2.size() != recs.size()) std::abort();
  for (std::size_t i = 0; i < recs.size(); ++i)
    if (recs2[i].op != recs[i].op || recs2[i].device != recs[i].device || recs2[i].id != recs[i].id ||
        recs2[i].stanza != recs[i].stanza)
      std::abort();
  return 0;
}
