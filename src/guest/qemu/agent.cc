// The guest agent protocol: one connection per call, a 0xFF byte to reset the agent's parser,
// guest-sync-delimited with a fresh id (its reply is preceded by the agent's own 0xFF, so what
// came before it is stale and skipped), then the command and its one-line JSON reply.
#include "guest/qemu/agent.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::guest::qemu {
namespace {

using Clock = std::chrono::steady_clock;
using schema::Json;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Sync ids only have to differ from the ids of earlier, possibly still pending, syncs.
std::int64_t next_sync_id() {
  static std::atomic<std::int64_t> counter{[] {
    std::random_device rd;
    return static_cast<std::int64_t>(rd() % 1000000000u) + 1;
  }()};
  return counter.fetch_add(1) % 2000000000 + 1;
}

bool may_close_without_reply(const std::string& command) {
  return command == "guest-shutdown" || command == "guest-suspend-ram" || command == "guest-suspend-disk" ||
         command == "guest-suspend-hybrid";
}

[[noreturn]] void not_running() { throw Error("QEMU guest agent is not running"); }

int connect_socket(const std::filesystem::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof addr.sun_path) throw Error("guest agent socket path too long: " + p);
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(std::string("unable to create socket - ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    not_running();
  }
  return fd;
}

// Sends everything; false when the peer is gone.
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

enum class ReadResult { Data, Timeout, Closed };

// Appends what arrives before `deadline` to `buffer`.
ReadResult read_some(int fd, std::string& buffer, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return ReadResult::Timeout;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ReadResult::Closed;
    if (r == 0) continue;
    char chunk[65536];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return ReadResult::Closed;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return ReadResult::Data;
  }
}

// Takes the next non-empty line that parses as a JSON object, skipping blank lines.
std::optional<Json> take_reply_line(std::string& buffer) {
  for (;;) {
    auto nl = buffer.find('\n');
    if (nl == std::string::npos) return std::nullopt;
    std::string line = buffer.substr(0, nl);
    buffer.erase(0, nl + 1);
    if (trim(line).empty()) continue;
    auto obj = Json::parse(line, nullptr, false);
    if (obj.is_object()) return obj;
  }
}

Json decode_b64_field(const Json& value) {
  if (!value.is_string()) return value;
  return base64_decode(value.get<std::string>());
}

}  // namespace

bool take_sync_reply(std::string& buffer, std::int64_t id) {
  for (;;) {
    auto ff = buffer.find('\xff');
    if (ff == std::string::npos) {
      buffer.clear();  // all stale: the sentinel of our sync has not come yet
      return false;
    }
    auto nl = buffer.find('\n', ff + 1);
    if (nl == std::string::npos) {
      buffer.erase(0, ff);
      return false;
    }
    auto obj = Json::parse(buffer.begin() + static_cast<long>(ff) + 1, buffer.begin() + static_cast<long>(nl), nullptr, false);
    buffer.erase(0, nl + 1);
    if (obj.is_object() && obj.contains("return") && obj["return"].is_number_integer() &&
        obj["return"].get<std::int64_t>() == id) {
      return true;
    }
  }
}

AgentClient::AgentClient(std::filesystem::path socket, std::int64_t vmid) : socket_(std::move(socket)), vmid_(vmid) {}

Json AgentClient::execute_raw(const std::string& command, const Json& arguments, std::chrono::milliseconds timeout) {
  std::error_code ec;
  if (!std::filesystem::exists(socket_, ec)) not_running();
  Fd fd(connect_socket(socket_));

  const std::int64_t id = next_sync_id();
  const Json sync = {{"execute", "guest-sync-delimited"}, {"arguments", {{"id", id}}}};
  if (!send_all(fd.get(), "\xff" + sync.dump() + "\n")) not_running();
  std::string buffer;
  const auto sync_deadline = Clock::now() + std::min(timeout, sync_timeout_);
  while (!take_sync_reply(buffer, id)) {
    if (read_some(fd.get(), buffer, sync_deadline) != ReadResult::Data) not_running();
  }

  Json cmd = {{"execute", command}};
  if (!arguments.is_null() && !(arguments.is_object() && arguments.empty())) cmd["arguments"] = arguments;
  const std::string failed = "VM " + std::to_string(vmid_) + " qga command '" + command + "' failed - ";
  if (!send_all(fd.get(), cmd.dump() + "\n")) {
    if (may_close_without_reply(command)) return Json{{"return", nullptr}};
    throw Error(failed + "connection closed");
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (auto reply = take_reply_line(buffer)) return *reply;
    switch (read_some(fd.get(), buffer, deadline)) {
      case ReadResult::Data:
        break;
      case ReadResult::Timeout:
        throw Error(failed + "got timeout");
      case ReadResult::Closed:
        if (may_close_without_reply(command)) return Json{{"return", nullptr}};
        throw Error(failed + "connection closed");
    }
  }
}

Json AgentClient::execute(const std::string& command, const Json& arguments, std::chrono::milliseconds timeout) {
  Json reply = execute_raw(command, arguments, timeout);
  if (reply.contains("error")) {
    const Json& err = reply["error"];
    std::string desc = err.is_object() && err.contains("desc") && err["desc"].is_string() ? err["desc"].get<std::string>()
                                                                                          : err.dump();
    while (!desc.empty() && desc.back() == '\n') desc.pop_back();
    throw Error("Agent error: " + desc);
  }
  return reply.contains("return") ? reply["return"] : Json();
}

std::chrono::milliseconds agent_command_timeout(const std::string& command) {
  using namespace std::chrono;
  if (command == "guest-fsfreeze-freeze") return hours(1);
  if (command == "guest-fsfreeze-thaw") return minutes(3);
  if (command == "guest-fstrim" || command == "guest-shutdown") return minutes(10);
  return seconds(5);
}

Json agent_exec(AgentClient& agent, const std::vector<std::string>& command, const std::optional<std::string>& input_data) {
  Json args = {{"capture-output", true}};
  if (!command.empty()) {
    args["path"] = command.front();
    args["arg"] = Json(std::vector<std::string>(command.begin() + 1, command.end()));
  }
  if (input_data) args["input-data"] = base64_encode(*input_data);
  if (!args.contains("path") && !args.contains("input-data")) throw Error("command or input-data (or both) required");
  return agent.execute("guest-exec", args, agent_command_timeout("guest-exec"));
}

Json agent_exec_status(AgentClient& agent, std::int64_t pid) {
  Json res = agent.execute("guest-exec-status", {{"pid", pid}}, agent_command_timeout("guest-exec-status"));
  if (!res.is_object()) return res;
  for (const char* key : {"out-data", "err-data"}) {
    if (res.contains(key)) res[key] = decode_b64_field(res[key]);
  }
  for (auto& [key, value] : res.items()) {
    if (value.is_boolean()) value = value.get<bool>() ? 1 : 0;
  }
  return res;
}

Json agent_file_read(AgentClient& agent, const std::string& path, std::size_t count, std::int64_t offset, bool decode) {
  constexpr std::size_t kChunk = 1024 * 1024;
  const auto t = agent_command_timeout("guest-file-read");
  Json handle = agent.execute("guest-file-open", {{"path", path}}, t);
  std::string content;
  std::size_t bytes_read = 0;
  bool eof = false;
  try {
    if (offset > 0) agent.execute("guest-file-seek", {{"handle", handle}, {"offset", offset}, {"whence", "set"}}, t);
    while (bytes_read < count && !eof) {
      std::size_t chunk = std::min(count - bytes_read, kChunk);
      Json r = agent.execute("guest-file-read", {{"handle", handle}, {"count", chunk}}, t);
      std::string b64 = r.value("buf-b64", "");
      content += decode ? base64_decode(b64) : b64;
      bytes_read += r.value("count", std::size_t{0});
      eof = r.value("eof", false);
      if (r.value("count", std::size_t{0}) == 0 && !eof) break;  // nothing more comes (a device)
    }
  } catch (...) {
    try {
      agent.execute("guest-file-close", {{"handle", handle}}, t);
    } catch (const Error&) {
    }
    throw;
  }
  try {
    agent.execute("guest-file-close", {{"handle", handle}}, t);
  } catch (const Error&) {
    // PVE only warns when the close fails: the data was read.
  }
  Json out = {{"content", content}, {"bytes-read", bytes_read}};
  if (!eof) out["truncated"] = 1;
  return out;
}

void agent_file_write(AgentClient& agent, const std::string& path, const std::string& content, bool encoded) {
  const auto t = agent_command_timeout("guest-file-write");
  Json handle = agent.execute("guest-file-open", {{"path", path}, {"mode", "wb"}}, t);
  try {
    agent.execute("guest-file-write", {{"handle", handle}, {"buf-b64", encoded ? content : base64_encode(content)}}, t);
  } catch (...) {
    try {
      agent.execute("guest-file-close", {{"handle", handle}}, t);
    } catch (const Error&) {
    }
    throw;
  }
  agent.execute("guest-file-close", {{"handle", handle}}, t);
}

}  // namespace pvx::guest::qemu
