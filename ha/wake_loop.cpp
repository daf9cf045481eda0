#include "ha/wake_loop.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace wa::ha {

WakeLoop::WakeLoop() {
  if (pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) throw std::runtime_error("elector: cannot create wake pipe");
}

WakeLoop::~WakeLoop() {
  close(fds_[0]);
  close(fds_[1]);
}

void WakeLoop::wake() {
  const char b = 1;
  [[maybe_unused]] auto n = write(fds_[1], &b, 1);
}

bool WakeLoop::wait(std::vector<pollfd>& fds, Clock::time_point until) {
  std::vector<pollfd> all;
  all.reserve(fds.size() + 1);
  all.push_back({fds_[0], POLLIN, 0});
  all.insert(all.end(), fds.begin(), fds.end());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count() + 1;
  ::poll(all.data(), all.size(), static_cast<int>(std::clamp<long long>(ms, 0, 60000)));
  for (std::size_t i = 0; i < fds.size(); ++i) fds[i].revents = all[i + 1].revents;
  if (all[0].revents == 0) return false;
  char buf[64];
  while (read(fds_[0], buf, sizeof buf) > 0) {
  }
  return true;
}

}  // namespace wa::ha
