#include "guest/qemu/vm_events.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "base/error.h"
#include "base/log.h"
#include "schema/schema.h"

namespace pvx::guest::qemu {
namespace {

// The peer's pid, for the log.
int peer_pid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return cred.pid;
}

void send_line(int fd, const std::string& text) {
  std::string line = text + "\r\n";
  // Tiny writes on a local socket; a QEMU that does not read is dropped at the next poll.
  (void)!::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

VmEventListener::VmEventListener(std::filesystem::path socket_path) : path_(std::move(socket_path)) {}

VmEventListener::~VmEventListener() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::vector<std::string> VmEventListener::qemu_args() const {
  return {"-chardev", "socket,id=qmp-event,path=" + path_.string() + ",reconnect=5", "-mon",
          "chardev=qmp-event,mode=control"};
}

void VmEventListener::start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path_.string();
  if (p.size() >= sizeof addr.sun_path) throw Error("event socket path too long: " + p, 500);
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  std::filesystem::remove(path_, ec);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw Error("cannot listen on '" + p + "': " + std::strerror(errno), 500);
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) throw Error(std::string("eventfd: ") + std::strerror(errno), 500);
  thread_ = std::thread([this] { run(); });
}

void VmEventListener::run() {
  struct Client {
    int pid = 0;
    std::string buffer;
  };
  std::map<int, Client> clients;
  for (;;) {
    std::vector<pollfd> fds{{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const auto& [fd, c] : clients) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      log::error(std::string("qmeventd: poll: ") + std::strerror(errno));
      return;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        clients[fd].pid = peer_pid(fd);
        send_line(fd, R"({"execute":"qmp_capabilities"})");
      }
    }
    for (std::size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      const int fd = fds[i].fd;
      auto& c = clients[fd];
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        ::close(fd);
        clients.erase(fd);
        continue;
      }
      c.buffer.append(buf, static_cast<std::size_t>(n));
      if (c.buffer.size() > (1 << 20)) c.buffer.clear();  // a peer that never ends a line
      for (auto nl = c.buffer.find('\n'); nl != std::string::npos; nl = c.buffer.find('\n')) {
        std::string line = c.buffer.substr(0, nl);
        c.buffer.erase(0, nl + 1);
        auto msg = schema::Json::parse(line, nullptr, false);
        if (!msg.is_object() || msg.value("event", "") != "SHUTDOWN") continue;
        // Only the guest's own poweroff; a `quit` or a signal says guest=false.
        const auto& data = msg.contains("data") ? msg["data"] : schema::Json::object();
        if (!data.value("guest", false)) continue;
        log::info("qmeventd: guest of QEMU pid " + std::to_string(c.pid) + " powered off, ending QEMU");
        send_line(fd, R"({"execute":"quit"})");
      }
    }
  }
  for (const auto& [fd, c] : clients) ::close(fd);
}

}  // namespace pvx::guest::qemu
