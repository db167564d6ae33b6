#include "tasks/task_runner.h"

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "base/log.h"
#include "tasks/task_index.h"
#include "tasks/task_log.h"
#include "tasks/thread_identity.h"

namespace pvx::tasks {
namespace {

constexpr const char* kInterrupted = "received interrupt";
constexpr const char* kUnexpected = "unexpected status";

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::filesystem::path index_path(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  return dir / "tasks.db";
}

// The exit status of a failed task is the first line of its error, as Proxmox shows it.
std::string error_status(std::string_view what) {
  auto nl = what.find('\n');
  std::string_view first = what.substr(0, nl);
  while (!first.empty() && (first.back() == '\r' || first.back() == ' ')) first.remove_suffix(1);
  return first.empty() ? std::string("unknown error") : std::string(first);
}

// Shared between the runner and one task thread.
struct Task {
  std::atomic<bool> abort{false};
  bool finished = false;  // guarded by Impl::mutex_; the thread only returns after setting it
};

class Context final : public TaskContext {
 public:
  Context(const Upid& upid, TaskLogWriter& log, const Task& task) : upid_(upid), log_(log), task_(task) {}

  const Upid& upid() const override { return upid_; }
  void log(std::string_view line) override { log_.line(line); }
  void warn(std::string_view line) override {
    std::string text = "WARN: ";
    text += line;
    log_.line(text);
    warnings_.fetch_add(1, std::memory_order_relaxed);
  }
  bool abort_requested() const override { return task_.abort.load(std::memory_order_relaxed); }
  void check_abort() const override {
    if (abort_requested()) throw Error(kInterrupted);
  }

  int warnings() const { return warnings_.load(std::memory_order_relaxed); }

 private:
  const Upid& upid_;
  TaskLogWriter& log_;
  const Task& task_;
  std::atomic<int> warnings_{0};
};

}  // namespace

struct TaskRunner::Impl {
  std::filesystem::path dir;
  std::string node;
  TaskIndex index;

  std::mutex mutex;
  std::condition_variable ended;
  // Tasks whose thread is alive here, by UPID text. A task is in here before its index row says
  // "running" and leaves only after the row has its end, so reconcile() never closes ours.
  std::map<std::string, std::shared_ptr<Task>> live;
  // Every thread not yet joined, with its task's state.
  std::list<std::pair<std::shared_ptr<Task>, std::thread>> threads;

  Impl(std::filesystem::path d, std::string n)
      : dir(std::move(d)), node(std::move(n)), index(index_path(dir)) {}

  void run(std::shared_ptr<Task> task, std::string type, std::string id, std::string user,
           std::function<void(TaskContext&)> fn, std::promise<Upid> started);
  void reap_finished();
};

// The body of each task thread: identify, announce, run, record the end.
void TaskRunner::Impl::run(std::shared_ptr<Task> task, std::string type, std::string id, std::string user,
                           std::function<void(TaskContext&)> fn, std::promise<Upid> started) {
  Upid upid;
  std::string text;
  std::filesystem::path log_file;
  std::optional<TaskLogWriter> log;
  try {
    upid.node = node;
    upid.pid = current_tid();
    auto pstart = thread_start_ticks(upid.pid);
    if (!pstart) throw Error("unable to read the start time of task thread " + std::to_string(upid.pid));
    upid.pstart = *pstart;
    upid.starttime = now();
    upid.type = std::move(type);
    upid.id = std::move(id);
    upid.user = std::move(user);
    text = upid.str();
    if (!Upid::parse(text)) throw Error("invalid task id '" + text + "'");
    log_file = task_log_path(dir, upid);
    log.emplace(TaskLogWriter::create(log_file));
    {
      std::lock_guard lock(mutex);
      live.emplace(text, task);
    }
    index.insert_running(upid);
  } catch (...) {
    if (log) {
      log.reset();
      std::error_code ec;
      std::filesystem::remove(log_file, ec);
    }
    std::lock_guard lock(mutex);
    if (!text.empty()) live.erase(text);
    task->finished = true;
    started.set_exception(std::current_exception());
    return;
  }
  started.set_value(upid);

  Context ctx(upid, *log, *task);
  std::string status;
  try {
    fn(ctx);
    status = ctx.warnings() ? "WARNINGS: " + std::to_string(ctx.warnings()) : "OK";
  } catch (const Error& e) {
    // A parameter error names its parameters; the task's status says which, as PVE's does.
    std::string msg = e.what();
    for (const auto& [k, v] : e.params()) msg += (msg.ends_with(".") ? " " : "; ") + k + ": " + v;
    status = error_status(msg);
  } catch (const std::exception& e) {
    status = error_status(e.what());
  } catch (...) {
    status = "unknown error";
  }
  if (status == "OK") {
    log->line("TASK OK");
  } else if (status.starts_with("WARNINGS: ")) {
    log->line("TASK " + status);
  } else {
    log->line("TASK ERROR: " + status);
  }
  log.reset();
  try {
    index.finish(text, now(), status);
  } catch (const std::exception& e) {
    pvx::log::error("task " + text + ": cannot record its end: " + e.what());
  }
  // Exited threads keep their stacks until joined; join those that ended before us now rather
  // than waiting for the next spawn.
  reap_finished();

  std::lock_guard lock(mutex);
  live.erase(text);
  task->finished = true;
  ended.notify_all();
}

// Joins threads that finished; they only have their epilogue left, so join() is immediate.
void TaskRunner::Impl::reap_finished() {
  std::list<std::pair<std::shared_ptr<Task>, std::thread>> done;
  {
    std::lock_guard lock(mutex);
    for (auto it = threads.begin(); it != threads.end();) {
      auto next = std::next(it);
      if (it->first->finished) done.splice(done.end(), threads, it);
      it = next;
    }
  }
  for (auto& [task, thread] : done) thread.join();
}

TaskRunner::TaskRunner(std::filesystem::path dir, std::string node)
    : impl_(std::make_unique<Impl>(std::move(dir), std::move(node))) {}

TaskRunner::~TaskRunner() {
  std::list<std::pair<std::shared_ptr<Task>, std::thread>> all;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [text, task] : impl_->live) task->abort = true;
    all.swap(impl_->threads);
  }
  for (auto& [task, thread] : all) thread.join();
}

void TaskRunner::reconcile() {
  for (const auto& text : impl_->index.running()) {
    {
      std::lock_guard lock(impl_->mutex);
      if (impl_->live.contains(text)) continue;
    }
    if (auto upid = Upid::parse(text)) {
      try {
        TaskLogWriter::append_to(task_log_path(impl_->dir, *upid)).line(std::string("TASK ERROR: ") + kUnexpected);
      } catch (const std::exception& e) {
        pvx::log::warn("task " + text + ": " + e.what());
      }
    }
    impl_->index.finish(text, now(), kUnexpected);
  }
}

Upid TaskRunner::spawn(std::string type, std::string id, std::string user,
                       std::function<void(TaskContext&)> fn) {
  impl_->reap_finished();
  auto task = std::make_shared<Task>();
  std::promise<Upid> started;
  auto upid_future = started.get_future();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->threads.emplace_back(task, std::thread(&Impl::run, impl_.get(), task, std::move(type), std::move(id),
                                                  std::move(user), std::move(fn), std::move(started)));
  }
  // The thread announces its UPID only after its "running" row is written, so status() and
  // read_log() work as soon as we return.
  return upid_future.get();
}

std::optional<TaskInfo> TaskRunner::status(const std::string& upid) {
  if (!Upid::parse(upid)) return std::nullopt;
  return impl_->index.get(upid);
}

std::pair<std::vector<TaskInfo>, std::int64_t> TaskRunner::list(const TaskFilter& filter) {
  return impl_->index.list(filter);
}

std::pair<std::vector<LogLine>, std::int64_t> TaskRunner::read_log(const std::string& upid, std::int64_t start,
                                                                   std::int64_t limit) {
  auto parsed = Upid::parse(upid);
  if (!parsed) throw Error::param("upid", "unable to parse worker upid");
  return read_log_page(task_log_path(impl_->dir, *parsed), start, limit);
}

bool TaskRunner::stop(const std::string& upid) {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->live.find(upid);
  if (it == impl_->live.end()) return false;
  it->second->abort = true;
  return true;
}

bool TaskRunner::wait(const std::string& upid, std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(impl_->mutex);
    if (impl_->live.contains(upid)) {
      return impl_->ended.wait_for(lock, timeout, [&] { return !impl_->live.contains(upid); });
    }
  }
  // Not running here: done if the index knows its end.
  auto info = status(upid);
  return info && !info->running;
}

std::filesystem::path TaskRunner::log_path(const Upid& upid) const { return task_log_path(impl_->dir, upid); }

}  // namespace pvx::tasks
