#include "ha/shutdown.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>

#include "common/log.h"

namespace wa::ha {
namespace {

sigset_t shutdown_set() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGUSR2);  // internal: wakes the thread on destruction
  return s;
}

}  // namespace

ShutdownSignals::ShutdownSignals(std::function<void(int)> on_first) : on_first_(std::move(on_first)) {
  const sigset_t s = shutdown_set();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  thread_ = std::thread([this] { run(); });
}

ShutdownSignals::~ShutdownSignals() {
  pthread_kill(thread_.native_handle(), SIGUSR2);
  thread_.join();
}

void ShutdownSignals::run() {
  const sigset_t s = shutdown_set();
  int count = 0;
  for (;;) {
    int sig = 0;
    if (sigwait(&s, &sig) != 0) continue;
    if (sig == SIGUSR2) return;
    if (++count == 1) {
      wa::log::info("shutdown_requested").kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      on_first_(sig);
    } else {
      wa::log::warn("shutdown_forced").kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      std::_Exit(1);
    }
  }
}

}  // namespace wa::ha
