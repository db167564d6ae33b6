#include "guest/qemu/exit_watcher.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "base/child_reaper.h"
#include "base/error.h"
#include "base/log.h"
#include "guest/qemu/proc_util.h"
#include "guest/qemu/qemu_process.h"

namespace pvx::guest::qemu {
namespace {

struct Watch {
  int pid = 0;
  int pidfd = -1;  // -1: the process was gone when registered; fires at once
  bool reap = false;
  std::function<void()> on_exit;
};

class ExitWatcher {
 public:
  ExitWatcher() {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw Error(std::string("eventfd: ") + std::strerror(errno));
    std::thread([this] { run(); }).detach();
  }

  void add(Watch watch) {
    {
      std::lock_guard lock(mutex_);
      watches_.push_back(std::move(watch));
    }
    std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }

 private:
  void run() {
    sigset_t all;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::vector<pollfd> fds;
    for (;;) {
      fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
      std::vector<Watch> fired;
      {
        std::lock_guard lock(mutex_);
        for (auto it = watches_.begin(); it != watches_.end();) {
          if (it->pidfd < 0) {
            fired.push_back(std::move(*it));
            it = watches_.erase(it);
          } else {
            fds.push_back(pollfd{it->pidfd, POLLIN, 0});
            ++it;
          }
        }
      }
      if (fired.empty()) {
        int r = ::poll(fds.data(), fds.size(), -1);
        if (r < 0 && errno != EINTR) {
          log::error(std::string("VM exit watcher: poll: ") + std::strerror(errno));
          std::this_thread::sleep_for(std::chrono::seconds(1));
        }
        if (fds[0].revents) {
          std::uint64_t count;
          (void)!::read(wake_fd_, &count, sizeof count);
        }
        std::lock_guard lock(mutex_);
        for (std::size_t i = 1; i < fds.size(); ++i) {
          if (!fds[i].revents) continue;
          for (auto it = watches_.begin(); it != watches_.end(); ++it) {
            if (it->pidfd == fds[i].fd) {
              fired.push_back(std::move(*it));
              watches_.erase(it);
              break;
            }
          }
        }
      }
      for (auto& w : fired) finish(w);
    }
  }

  static void finish(Watch& w) {
    if (w.reap) {
      int status = 0;
      while (::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
      }
      release_child(w.pid);
    }
    if (w.pidfd >= 0) ::close(w.pidfd);
    if (!w.on_exit) return;
    try {
      w.on_exit();
    } catch (const std::exception& e) {
      log::error("after the exit of process " + std::to_string(w.pid) + ": " + e.what());
    }
  }

  std::mutex mutex_;
  std::vector<Watch> watches_;
  int wake_fd_ = -1;
};

ExitWatcher& watcher() {
  static auto* w = new ExitWatcher();  // its thread runs for the life of the process
  return *w;
}

}  // namespace

void watch_process_exit(int pid, int pidfd, bool reap, std::function<void()> on_exit) {
  if (pidfd < 0) pidfd = open_pidfd(pid);
  watcher().add(Watch{pid, pidfd, reap, std::move(on_exit)});
}

void watch_vm_exit(int pid, std::function<void()> on_exit) {
  watch_process_exit(pid, -1, false, std::move(on_exit));
}

}  // namespace pvx::guest::qemu
