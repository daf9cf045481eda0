// libFuzzer target for wasim's message server (sim/prekey_server, sim/message_router) behind the
// binary node decoder: the decoded node is offered as a pre-key upload and as a <message> from a
// known device. Input byte 0 selects the dictionary (bit 0x01: v2, else v3); the rest is a frame
// plaintext (flag byte + node).
// Beyond "no crash": a refused upload stores nothing; an accepted one holds at most the per-device
// limit; every routed message is acked, and a refused one leaves nothing pending.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "fuzz/node_input.h"
#include "sim/device_registry.h"
#include "sim/group_registry.h"
#include "sim/message_router.h"
#include "sim/prekey_server.h"
#include "sim/session_hub.h"

namespace bin = wa::binary;
namespace sim = wa::sim;

namespace {

struct World {
  std::filesystem::path dir;
  sim::DeviceRegistry devices;
  sim::SessionHub hub;
  sim::PreKeyServer keys;
  sim::GroupRegistry groups;
  sim::MessageRouter router;
  explicit World(std::filesystem::path d)
      : dir(d), devices(d), keys(d), groups(d), router(d, devices, hub, keys, groups) {
    devices.put({15550001, 1, std::string(64, 'a'), std::string(64, 'b'), 0});
    devices.put({15550002, 1, std::string(64, 'c'), std::string(64, 'd'), 0});
    groups.create("g", {15550001, 15550002});
  }
};

std::filesystem::path state_dir() {
  auto d = std::filesystem::temp_directory_path() / ("wasim-fuzz-" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

World& world() {
  static World w(state_dir());  // one state dir per fuzzing process
  return w;
}

void check(const bin::Node& n) {
  World& w = world();
  const sim::PreKeyServer::DeviceKey dev{15550002, 1};
  w.keys.forget(dev);
  try {
    w.keys.upload(dev, n);
    if (w.keys.count(dev) > sim::PreKeyServer::kMaxKeysPerDevice) std::abort();
  } catch (const sim::UploadError&) {
    if (w.keys.has(dev)) std::abort();
  }
  const std::size_t before = w.router.pending(dev);
  if (n.tag == "message") {
    auto ack = w.router.route({15550001, 1}, n);
    if (ack) {
      if (ack->tag != "ack") std::abort();
      if (ack->attr("error") && w.router.pending(dev) != before) std::abort();
    }
  }
  (void)w.router.take_pending(dev);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return wa::fuzz::check_node_input(data, size, check);
}
