// The QMP wire protocol: one JSON object per line; a greeting, qmp_capabilities, then commands
// answered by replies carrying the command's id, with asynchronous events in between.
#include "guest/qemu/qmp.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace pvx::guest::qemu {
namespace {

using Clock = std::chrono::steady_clock;

int millis_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

// Ids unique within the process, so a reply meant for another client's timed-out command (or
// this client's) is never taken for the current one.
std::string next_id() {
  static std::atomic<std::uint64_t> counter{0};
  return "pvx-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

// Thrown inside the class for a failed read; the caller words it for its command.
struct ReadFailure {
  std::string reason;
};

}  // namespace

QmpClient::QmpClient(const std::filesystem::path& socket, std::int64_t vmid, std::chrono::milliseconds timeout)
    : vmid_(vmid) {
  const std::string prefix = "unable to connect to VM " + std::to_string(vmid) + " qmp socket - ";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.size() >= sizeof addr.sun_path) throw Error(prefix + "socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw Error(prefix + std::strerror(errno));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error(prefix + std::strerror(err));
  }

  const auto deadline = Clock::now() + timeout;
  try {
    auto greeting = read_message(deadline);
    if (!greeting.is_object() || !greeting.contains("QMP")) throw ReadFailure{"no QMP greeting"};
  } catch (const ReadFailure& f) {
    ::close(fd_);
    fd_ = -1;
    throw Error(prefix + f.reason);
  }
  try {
    execute("qmp_capabilities", schema::Json::object(),
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

QmpClient::~QmpClient() {
  if (fd_ >= 0) ::close(fd_);
}

schema::Json QmpClient::read_message(Clock::time_point deadline) {
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto message = schema::Json::parse(line, nullptr, false);
      if (message.is_discarded()) throw ReadFailure{"invalid JSON from QEMU: " + line.substr(0, 200)};
      return message;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, millis_until(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw ReadFailure{std::string("poll: ") + std::strerror(errno)};
    if (r == 0) {
      if (Clock::now() >= deadline) throw ReadFailure{"got timeout"};
      continue;
    }
    char buf[65536];
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) throw ReadFailure{std::string("unable to read: ") + std::strerror(errno)};
    if (n == 0) throw ReadFailure{"connection closed by QEMU"};
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

schema::Json QmpClient::execute(const std::string& command, const schema::Json& arguments,
                                std::chrono::milliseconds timeout) {
  const std::string prefix = "VM " + std::to_string(vmid_) + " qmp command '" + command + "' failed - ";
  if (fd_ < 0) throw Error(prefix + "not connected");
  const std::string id = next_id();
  schema::Json request = {{"execute", command}, {"id", id}};
  if (!arguments.is_null() && !(arguments.is_object() && arguments.empty())) request["arguments"] = arguments;
  const std::string line = request.dump() + "\n";

  const auto deadline = Clock::now() + timeout;
  std::size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, millis_until(deadline)) == 0 && Clock::now() >= deadline) throw Error(prefix + "got timeout");
      continue;
    }
    throw Error(prefix + "unable to send: " + std::strerror(errno));
  }

  for (;;) {
    schema::Json message;
    try {
      message = read_message(deadline);
    } catch (const ReadFailure& f) {
      throw Error(prefix + f.reason);
    }
    if (!message.is_object()) continue;
    if (message.contains("event")) {
      events_.push_back(std::move(message));
      continue;
    }
    auto it = message.find("id");
    if (it == message.end() || *it != id) continue;  // a late reply to an earlier, timed-out command
    if (auto err = message.find("error"); err != message.end()) {
      std::string desc = err->is_object() ? err->value("desc", std::string()) : std::string();
      if (desc.empty()) desc = err->dump();
      throw Error(prefix + desc);
    }
    auto ret = message.find("return");
    return ret == message.end() ? schema::Json::object() : *ret;
  }
}

std::string QmpClient::hmp(const std::string& command_line, std::chrono::milliseconds timeout) {
  auto out = execute("human-monitor-command", {{"command-line", command_line}}, timeout);
  return out.is_string() ? out.get<std::string>() : std::string();
}

schema::Json QmpClient::wait_event(const std::string& name, std::chrono::milliseconds timeout) {
  auto take = [&](std::size_t i) {
    schema::Json event = std::move(events_[i]);
    events_.erase(events_.begin() + static_cast<std::ptrdiff_t>(i));
    auto data = event.find("data");
    return data == event.end() ? schema::Json::object() : *data;
  };
  for (std::size_t i = 0; i < events_.size(); ++i) {
    if (events_[i].value("event", std::string()) == name) return take(i);
  }
  const std::string prefix = "VM " + std::to_string(vmid_) + " qmp event '" + name + "' not received - ";
  if (fd_ < 0) throw Error(prefix + "not connected");
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    schema::Json message;
    try {
      message = read_message(deadline);
    } catch (const ReadFailure& f) {
      throw Error(prefix + f.reason);
    }
    if (!message.is_object() || !message.contains("event")) continue;
    events_.push_back(std::move(message));
    if (events_.back().value("event", std::string()) == name) return take(events_.size() - 1);
  }
}

std::vector<schema::Json> QmpClient::take_events() {
  std::vector<schema::Json> out;
  out.swap(events_);
  return out;
}

}  // namespace pvx::guest::qemu
