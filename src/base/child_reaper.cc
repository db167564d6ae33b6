#include "base/child_reaper.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/atomic_file.h"
#include "base/log.h"
#include "base/proc_stat.h"

namespace pvx {
namespace {

using Clock = std::chrono::steady_clock;

std::mutex& fork_mutex() {
  static std::mutex m;
  return m;
}

struct Claims {
  std::mutex mutex;
  std::unordered_map<pid_t, int> count;  // a count: a pid may be claimed twice around its reuse
};
Claims& claims() {
  static Claims c;
  return c;
}

bool is_claimed(pid_t pid) {
  auto& c = claims();
  std::lock_guard lock(c.mutex);
  return c.count.count(pid) != 0;
}

std::vector<pid_t> numbers_in(const std::string& text) {
  std::vector<pid_t> out;
  std::istringstream in(text);
  for (pid_t pid; in >> pid;) out.push_back(pid);
  return out;
}

std::vector<std::string> directory_entries(const char* path) {
  std::vector<std::string> out;
  DIR* dir = ::opendir(path);
  if (!dir) return out;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.emplace_back(e->d_name);
  }
  ::closedir(dir);
  return out;
}

// The children of this process: an orphan is re-parented to one of its threads, so every
// thread's children file counts. Without CONFIG_PROC_CHILDREN, every process's parent is read.
std::vector<pid_t> list_children() {
  std::vector<pid_t> out;
  bool have_children_files = false;
  for (const auto& tid : directory_entries("/proc/self/task")) {
    auto text = read_file("/proc/self/task/" + tid + "/children");
    if (!text) continue;
    have_children_files = true;
    auto pids = numbers_in(*text);
    out.insert(out.end(), pids.begin(), pids.end());
  }
  if (have_children_files) return out;
  const pid_t self = ::getpid();
  for (const auto& name : directory_entries("/proc")) {
    pid_t pid = static_cast<pid_t>(std::strtol(name.c_str(), nullptr, 10));
    auto st = read_proc_stat(pid);
    if (st && st->ppid == self) out.push_back(pid);
  }
  return out;
}

class Reaper {
 public:
  explicit Reaper(ChildReaperOptions options) : options_(options) {}

  void run() {
    sigset_t all;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, options_.interval, [this] { return poked_; });
        poked_ = false;
      }
      scan();
    }
  }

  void poke() {
    std::lock_guard lock(mutex_);
    poked_ = true;
    cv_.notify_all();
  }

 private:
  struct Zombie {
    std::uint64_t starttime = 0;
    Clock::time_point first_seen;
  };

  void scan() {
    const auto now = Clock::now();
    std::map<pid_t, Zombie> still_waiting;
    std::vector<ProcStat> due;
    for (pid_t pid : list_children()) {
      auto st = read_proc_stat(pid);
      if (!st || st->state != 'Z') continue;
      Zombie z{st->starttime, now};
      auto it = seen_.find(pid);
      if (it != seen_.end() && it->second.starttime == st->starttime) z = it->second;
      if (now - z.first_seen >= options_.grace) due.push_back(*st);
      else still_waiting[pid] = z;
    }
    if (!due.empty()) {
      // Under the fork lock a zombie that is not claimed now never will be: its spawner
      // claimed it (if at all) before releasing the lock.
      std::lock_guard fork_lock(fork_mutex());
      for (const auto& st : due) {
        if (is_claimed(st.pid)) continue;
        int status = 0;
        if (::waitpid(st.pid, &status, WNOHANG) == st.pid) {
          log::debug("reaped orphaned process " + std::to_string(st.pid) + " (" + st.comm + ")");
        }
      }
    }
    seen_ = std::move(still_waiting);
  }

  ChildReaperOptions options_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool poked_ = false;
  std::map<pid_t, Zombie> seen_;  // only touched by the reaper thread
};

std::mutex reaper_start_mutex;
Reaper* reaper = nullptr;  // lives for the whole process once started

}  // namespace

void start_child_reaper(ChildReaperOptions options) {
  std::lock_guard lock(reaper_start_mutex);
  if (reaper) return;
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    log::warn(std::string("cannot become a child subreaper: ") + std::strerror(errno));
  }
  reaper = new Reaper(options);
  std::thread([r = reaper] { r->run(); }).detach();
}

void claim_child(pid_t pid) {
  if (pid <= 0) return;
  auto& c = claims();
  std::lock_guard lock(c.mutex);
  ++c.count[pid];
}

void release_child(pid_t pid) {
  if (pid <= 0) return;
  auto& c = claims();
  std::lock_guard lock(c.mutex);
  auto it = c.count.find(pid);
  if (it == c.count.end()) return;
  if (--it->second <= 0) c.count.erase(it);
}

std::unique_lock<std::mutex> lock_for_fork() { return std::unique_lock(fork_mutex()); }

pid_t spawn_claimed(const std::function<pid_t()>& start) {
  auto lock = lock_for_fork();
  pid_t pid = start();
  if (pid > 0) claim_child(pid);
  return pid;
}

void reap_orphans_soon() {
  std::lock_guard lock(reaper_start_mutex);
  if (reaper) reaper->poke();
}

}  // namespace pvx
