#include "guest/qemu/console_sessions.h"

#include "base/error.h"
#include "tasks/task_runner.h"

namespace pvx::guest::qemu {
namespace {

using Clock = std::chrono::steady_clock;
// How often a waiting task looks at its abort flag.
constexpr auto kAbortPoll = std::chrono::milliseconds(200);
// After an abort closed the connection: how long the task waits for it to be gone.
constexpr auto kAbortGrace = std::chrono::seconds(5);

}  // namespace

void ConsoleSession::set_abort(std::function<void()> abort) {
  std::unique_lock lock(mutex_);
  abort_ = std::move(abort);
  if (abort_requested_ && abort_) abort_();
}

void ConsoleSession::ended() {
  std::unique_lock lock(mutex_);
  state_ = State::Ended;
  abort_ = nullptr;
  changed_.notify_all();
}

void ConsoleSession::request_abort() {
  std::unique_lock lock(mutex_);
  if (abort_requested_) return;
  abort_requested_ = true;
  // Under the lock: ended() clears the hook before the connection's executor can go away.
  if (abort_) abort_();
}

bool ConsoleSession::wait_connected(Clock::time_point until) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, until, [&] { return state_ != State::Reserved; });
  return state_ != State::Reserved;
}

bool ConsoleSession::expire() {
  std::unique_lock lock(mutex_);
  if (state_ != State::Reserved) return false;
  state_ = State::Ended;
  changed_.notify_all();
  return true;
}

bool ConsoleSession::wait_ended(Clock::time_point until) {
  std::unique_lock lock(mutex_);
  return changed_.wait_until(lock, until, [&] { return state_ == State::Ended; });
}

ConsoleSessions& ConsoleSessions::host() {
  static ConsoleSessions sessions;
  return sessions;
}

std::shared_ptr<ConsoleSession> ConsoleSessions::reserve(std::int64_t vmid, std::string user, ConsoleTarget target) {
  std::lock_guard lock(mutex_);
  constexpr int kCount = kLastPort - kFirstPort + 1;
  for (int i = 0; i < kCount; ++i) {
    int port = kFirstPort + (next_hint_ - kFirstPort + i) % kCount;
    if (sessions_.count(port)) continue;
    next_hint_ = port + 1 > kLastPort ? kFirstPort : port + 1;
    auto session = std::make_shared<ConsoleSession>(port, vmid, std::move(user), std::move(target));
    sessions_.emplace(port, session);
    return session;
  }
  throw Error("unable to find free port (" + std::to_string(kFirstPort) + "-" + std::to_string(kLastPort) + ")", 500);
}

std::shared_ptr<ConsoleSession> ConsoleSessions::claim(int port, std::int64_t vmid, const std::string& user) {
  std::shared_ptr<ConsoleSession> session;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(port);
    if (it != sessions_.end()) session = it->second;
  }
  // One answer for every refusal: whether the port is in use by someone else is nobody's business.
  auto refuse = [&] { return Error("no console session waiting on port " + std::to_string(port), 400); };
  if (!session || session->vmid() != vmid || session->user() != user) throw refuse();
  std::lock_guard lock(session->mutex_);
  if (session->state_ != ConsoleSession::State::Reserved) throw refuse();
  session->state_ = ConsoleSession::State::Connected;
  session->changed_.notify_all();
  return session;
}

void ConsoleSessions::serve(const std::shared_ptr<ConsoleSession>& session, tasks::TaskContext& task,
                            std::chrono::milliseconds connect_timeout) {
  struct Release {
    ConsoleSessions& owner;
    int port;
    ~Release() { owner.release(port); }
  } release{*this, session->port()};

  auto deadline = Clock::now() + connect_timeout;
  bool connected = false;
  while (!connected && Clock::now() < deadline) {
    connected = session->wait_connected(std::min(deadline, Clock::now() + kAbortPoll));
    if (!connected) task.check_abort();
  }
  // A claim that came in just at the deadline still counts.
  if (!connected && session->expire()) {
    throw Error(session->target().kind == ConsoleKind::Terminal ? "failed waiting for client: timed out"
                                                                 : "connection timed out");
  }
  while (!session->wait_ended(Clock::now() + kAbortPoll)) {
    if (!task.abort_requested()) continue;
    session->request_abort();
    session->wait_ended(Clock::now() + kAbortGrace);
    task.check_abort();  // ends the task as aborted
  }
}

void ConsoleSessions::release(int port) {
  std::lock_guard lock(mutex_);
  sessions_.erase(port);
}

std::size_t ConsoleSessions::active() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace pvx::guest::qemu
