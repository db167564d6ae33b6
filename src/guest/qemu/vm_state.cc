// Saving and loading VM state through QEMU's migration stream on a file descriptor pvxd opens.
// The QMP connection here is our own (not QmpClient) because `getfd` must travel with the
// descriptor as SCM_RIGHTS ancillary data, and `migrate fd:<name>` must run on the monitor
// that received it. While a migration runs we poll on fresh connections, so other QMP users
// are not shut out for the length of a large save.
#include "guest/qemu/vm_state.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "base/error.h"
#include "base/unique_fd.h"
#include "schema/schema.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;
using Clock = std::chrono::steady_clock;

class FdMonitor {
 public:
  FdMonitor(const std::filesystem::path& socket, std::int64_t vmid) : vmid_(vmid) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail_connect(std::strerror(errno));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = socket.string();
    if (path.size() >= sizeof(addr.sun_path)) fail_connect("socket path too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) fail_connect(std::strerror(errno));
    read_message(Clock::now() + std::chrono::seconds(10));  // greeting
    execute("qmp_capabilities");
  }
  ~FdMonitor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdMonitor(const FdMonitor&) = delete;
  FdMonitor& operator=(const FdMonitor&) = delete;

  // Runs a command; `pass_fd` >= 0 travels with it as SCM_RIGHTS.
  Json execute(const std::string& command, const Json& args = Json::object(), int pass_fd = -1) {
    Json msg = {{"execute", command}};
    if (!args.empty()) msg["arguments"] = args;
    const std::string text = msg.dump() + "\n";
    iovec iov{const_cast<char*>(text.data()), text.size()};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0) {
      mh.msg_control = control;
      mh.msg_controllen = sizeof(control);
      cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    // The descriptor goes with the first byte; the rest of a short write follows plainly.
    ssize_t n = ::sendmsg(fd_, &mh, MSG_NOSIGNAL);
    if (n < 0) fail(command, std::strerror(errno));
    for (std::size_t off = static_cast<std::size_t>(n); off < text.size();) {
      ssize_t m = ::send(fd_, text.data() + off, text.size() - off, MSG_NOSIGNAL);
      if (m < 0) fail(command, std::strerror(errno));
      off += static_cast<std::size_t>(m);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    for (;;) {
      Json reply = read_message(deadline);
      if (reply.contains("event")) continue;
      if (reply.contains("error")) fail(command, reply["error"].value("desc", reply["error"].dump()));
      if (reply.contains("return")) return reply["return"];
    }
  }

 private:
  [[noreturn]] void fail_connect(const std::string& why) {
    throw Error("unable to connect to VM " + std::to_string(vmid_) + " qmp socket - " + why, 500);
  }
  [[noreturn]] void fail(const std::string& command, const std::string& why) {
    throw Error("VM " + std::to_string(vmid_) + " qmp command '" + command + "' failed - " + why, 500);
  }

  Json read_message(Clock::time_point deadline) {
    for (;;) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        auto j = Json::parse(line, nullptr, false);
        if (j.is_discarded()) continue;
        return j;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) fail("read", "got timeout");
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) fail("read", "got timeout");
      char buf[4096];
      ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n == 0) fail("read", "connection closed");
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        fail("read", std::strerror(errno));
      }
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }

  int fd_ = -1;
  std::int64_t vmid_;
  std::string buffer_;
};

using Fd = UniqueFd;

// Polls query-migrate until the migration left its running states.
void wait_migration(const std::filesystem::path& socket, std::int64_t vmid, std::chrono::milliseconds timeout,
                    const char* what) {
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::milliseconds(20);
  for (;;) {
    Json info;
    {
      FdMonitor mon(socket, vmid);
      info = mon.execute("query-migrate");
    }
    const std::string status = info.value("status", "");
    if (status == "completed") return;
    if (status == "failed" || status == "cancelled") {
      std::string why = info.value("error-desc", status);
      throw Error(std::string(what) + " failed - " + why, 500);
    }
    if (Clock::now() > deadline) throw Error(std::string(what) + " failed - got timeout", 500);
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
}

constexpr const char* kFdName = "pvx-vmstate";

}  // namespace

void save_vm_state(const std::filesystem::path& qmp_socket, std::int64_t vmid, const std::filesystem::path& state_path,
                   std::chrono::milliseconds timeout) {
  Fd file{::open(state_path.c_str(), O_WRONLY | O_CLOEXEC)};
  if (file.fd < 0) throw Error("unable to open state file '" + state_path.string() + "' - " + std::strerror(errno), 500);
  {
    FdMonitor mon(qmp_socket, vmid);
    mon.execute("getfd", {{"fdname", kFdName}}, file.fd);
    mon.execute("migrate", {{"uri", std::string("fd:") + kFdName}});
  }
  wait_migration(qmp_socket, vmid, timeout, "saving VM state");
  // QEMU wrote through its own copy of the descriptor; make the data durable before it counts.
  ::fsync(file.fd);
}

void load_vm_state(const std::filesystem::path& qmp_socket, std::int64_t vmid, const std::filesystem::path& state_path,
                   std::chrono::milliseconds timeout) {
  Fd file{::open(state_path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw Error("unable to open state file '" + state_path.string() + "' - " + std::strerror(errno), 500);
  {
    FdMonitor mon(qmp_socket, vmid);
    mon.execute("getfd", {{"fdname", kFdName}}, file.fd);
    mon.execute("migrate-incoming", {{"uri", std::string("fd:") + kFdName}});
  }
  wait_migration(qmp_socket, vmid, timeout, "loading VM state");
}

std::int64_t vm_state_size_kib(std::int64_t memory_mib) { return (memory_mib * 2 + 500) * 1024; }

}  // namespace pvx::guest::qemu
