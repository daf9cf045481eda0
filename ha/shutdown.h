// SIGTERM/SIGINT handling without async-signal-safety hazards: the signals are blocked in every
// thread and a dedicated thread takes them with sigwait(). The first asks for a graceful
// shutdown (callback); the second exits the process at once.
#pragma once

#include <functional>
#include <thread>

namespace wa::ha {

class ShutdownSignals {
 public:
  // Must be constructed before any other thread starts, so that every thread inherits the mask.
  explicit ShutdownSignals(std::function<void(int signo)> on_first);
  ~ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

 private:
  void run();
  std::function<void(int)> on_first_;
  std::thread thread_;
};

}  // namespace wa::ha
