#include "storage/plugins/mount_util.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/process.h"
#include "storage/stream_util.h"

namespace pvx::storage {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string unescape_mount_field(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// One address: connect without blocking, wait for writability until `deadline`.
bool connect_one(const addrinfo* ai, Clock::time_point deadline, std::string& why) {
  Fd sock(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
  if (sock.get() < 0) {
    why = std::strerror(errno);
    return false;
  }
  if (::connect(sock.get(), ai->ai_addr, ai->ai_addrlen) == 0) return true;
  if (errno != EINPROGRESS) {
    why = std::strerror(errno);
    return false;
  }
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      why = "connection timed out";
      return false;
    }
    pollfd p{sock.get(), POLLOUT, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      why = std::strerror(errno);
      return false;
    }
    if (r == 0) continue;  // loop re-checks the deadline
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) return true;
    why = std::strerror(err);
    return false;
  }
}

bool reachable_until(const Endpoint& endpoint, Clock::time_point deadline, std::string& why) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  std::string host = strip_brackets(endpoint.host);
  int rc = ::getaddrinfo(host.c_str(), std::to_string(endpoint.port).c_str(), &hints, &res);
  if (rc != 0) {
    why = std::string("cannot resolve '") + host + "': " + ::gai_strerror(rc);
    return false;
  }
  bool ok = false;
  for (const addrinfo* ai = res; ai && !ok; ai = ai->ai_next) {
    ok = connect_one(ai, deadline, why);
    if (Clock::now() >= deadline) break;
  }
  ::freeaddrinfo(res);
  return ok;
}

std::chrono::milliseconds connect_timeout(const StorageDef& def) {
  if (def.host) return std::chrono::duration_cast<std::chrono::milliseconds>(def.host->connect_timeout);
  return std::chrono::seconds(10);
}

}  // namespace

std::vector<MountEntry> parse_proc_mounts(std::string_view text) {
  std::vector<MountEntry> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string source, target, fstype, options;
    if (!(fields >> source >> target >> fstype)) continue;
    fields >> options;
    out.push_back({unescape_mount_field(source), unescape_mount_field(target), unescape_mount_field(fstype),
                   unescape_mount_field(options)});
  }
  return out;
}

std::vector<MountEntry> read_mounts() {
  std::ifstream in("/proc/self/mounts");
  if (!in) throw Error("cannot read /proc/self/mounts", 500);
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_proc_mounts(buf.str());
}

std::string strip_brackets(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

std::string bracket_ipv6(const std::string& host) {
  std::string bare = strip_brackets(host);
  if (bare.find(':') != std::string::npos) return "[" + bare + "]";
  return bare;
}

bool same_path(const std::string& mount_target, const fs::path& configured) {
  auto norm = [](fs::path p) {
    p = p.lexically_normal();
    std::string s = p.string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
  };
  return norm(mount_target) == norm(configured);
}

void check_server(const std::string& key, const std::string& server) {
  std::string bare = strip_brackets(server);
  if (bare.empty()) throw Error::param(key, "missing server");
  bool bad = bare.front() == '-';
  for (unsigned char c : bare)
    if (c <= ' ' || c == '/' || c == ',' || c == '\\' || c == 0x7f) bad = true;
  if (bad) throw Error::param(key, "invalid server name or address '" + server + "'");
}

fs::path mount_point(const StorageDef& def) {
  fs::path p = def.path();
  if (p.empty() || !p.is_absolute()) throw Error::param("path", "storage '" + def.id + "' needs an absolute path");
  return p;
}

int port_option(std::string_view options) {
  std::size_t pos = 0;
  while (pos <= options.size()) {
    std::size_t end = options.find(',', pos);
    if (end == std::string_view::npos) end = options.size();
    std::string_view opt = options.substr(pos, end - pos);
    while (!opt.empty() && opt.front() == ' ') opt.remove_prefix(1);
    if (opt.starts_with("port=")) {
      int port = 0;
      for (char c : opt.substr(5)) {
        if (c < '0' || c > '9' || port > 65535) return 0;
        port = port * 10 + (c - '0');
      }
      return port <= 65535 ? port : 0;
    }
    pos = end + 1;
  }
  return 0;
}

bool tcp_reachable(const Endpoint& endpoint, std::chrono::milliseconds timeout, std::string& why) {
  return reachable_until(endpoint, Clock::now() + timeout, why);
}

Endpoint require_online(const StorageDef& def, const std::vector<Endpoint>& endpoints) {
  auto deadline = Clock::now() + connect_timeout(def);
  std::string failures;
  for (const auto& ep : endpoints) {
    std::string why;
    if (reachable_until(ep, deadline, why)) return ep;
    if (!failures.empty()) failures += "; ";
    failures += bracket_ipv6(ep.host) + ":" + std::to_string(ep.port) + ": " + why;
    if (Clock::now() >= deadline) break;
  }
  throw Error("storage '" + def.id + "' is not online - cannot connect to " + failures, 500);
}

SecretFile::SecretFile(const std::string& content) {
  std::string tmpl = (fs::temp_directory_path() / "pvx-secret-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw Error(std::string("cannot create secret directory: ") + std::strerror(errno), 500);
  dir_ = tmpl;
  file_ = dir_ / "secret";
  try {
    Fd fd(::open(file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) throw Error(std::string("cannot write secret file: ") + std::strerror(errno), 500);
    write_all(fd.get(), content.data(), content.size());
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

SecretFile::~SecretFile() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

OptionList merge_options(OptionList base, const std::vector<std::string>& drop, const OptionList& add) {
  std::erase_if(base, [&](const auto& o) { return std::find(drop.begin(), drop.end(), o.first) != drop.end(); });
  for (const auto& o : add) {
    auto it = std::find_if(base.begin(), base.end(), [&](const auto& b) { return b.first == o.first; });
    if (it != base.end()) it->second = o.second;
    else base.push_back(o);
  }
  return base;
}

std::chrono::milliseconds mount_timeout(const StorageDef& def) {
  // The server answered the connect check just before; a mount that still takes this long is
  // stuck (NFS retrying, a hanging Kerberos lookup) and killing it is the better answer.
  return std::max<std::chrono::milliseconds>(connect_timeout(def) * 6, std::chrono::seconds(60));
}

void MountedFileStorage::set_network_info(std::string type, std::vector<std::string> drop, const OptionList& add) {
  info_.type = std::move(type);
  info_.content = {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"};
  info_.default_content = {"images"};
  info_.formats = {"raw", "qcow2", "vmdk"};
  info_.default_format = "raw";
  info_.shared = true;
  info_.file_based = true;
  drop.insert(drop.end(), {"shared", "is_mountpoint", "nocow"});
  info_.options = merge_options(file_storage_common_options(), drop, add);
}

void MountedFileStorage::on_add(StorageDef& def) const {
  if (def.str("path").empty()) {
    fs::path root = def.host ? def.host->mount_root : fs::path("/mnt/pve");
    def.props["path"] = (root / def.id).string();
  }
  FileStorage::on_add(def);
}

void MountedFileStorage::activate(const StorageDef& def) const {
  const fs::path path = def.path();
  if (path.empty()) throw Error("storage '" + def.id + "' has no path", 500);
  if (!is_our_mount(def, read_mounts())) {
    // Only touch the path while nothing is mounted there: a stale mount of a dead server would
    // block mkdir/stat.
    // PVE's order: create-base-path, then the deprecated mkdir, default on.
    // The server is checked first, so a failed activation leaves no mount point behind.
    auto eps = endpoints(def);
    Endpoint online;
    if (!eps.empty()) online = require_online(def, eps);
    bool create = def.props.contains("create-base-path") ? def.flag("create-base-path", true) : def.flag("mkdir", true);
    if (create) {
      std::error_code ec;
      fs::create_directories(path, ec);
    }
    std::error_code ec;
    if (!fs::is_directory(path, ec))
      throw Error("unable to activate storage '" + def.id + "' - directory '" + path.string() + "' does not exist",
                  500);
    mount(def, online);
  }
  FileStorage::activate(def);
}

void MountedFileStorage::deactivate(const StorageDef& def) const {
  if (is_our_mount(def, read_mounts()))
    run_command({"umount", def.path().string()}, {.timeout = mount_timeout(def)});
}

StorageStatus MountedFileStorage::status(const StorageDef& def) const {
  if (!is_our_mount(def, read_mounts())) return {};
  return FileStorage::status(def);
}

}  // namespace pvx::storage
