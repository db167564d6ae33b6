// pct commands that run in the CLI process on the container's host, as PVE's do: exec, enter
// and console attach to the container through liblxc; push and pull copy a file through a
// process attached to it (so paths resolve inside the container, symlinks included, and files
// get the container's ids); unlock clears a config lock through the API; mount/unmount, fsck,
// df and rescan work on the volumes the API names.
#include <errno.h>  // before liblxc's headers, which use errno values without including it

#include <fcntl.h>
#include <lxc/lxccontainer.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <tuple>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/unique_fd.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/local_args.h"
#include "cli/output.h"
#include "guest/lxc/lxc_runtime.h"

namespace pvx::cli {
namespace {

namespace fs = std::filesystem;

fs::path lxcpath(const GlobalOptions& global) { return fs::absolute(socket_path(global.data_dir).parent_path() / "run" / "lxc"); }

std::string checked_vmid(const std::string& v) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) throw Error::param("vmid", "invalid vmid");
  return v;
}

// An attached process's wait status as an exit code (128+signal when killed).
int exit_code(int status) {
  if (status < 0) return 255;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

struct Attached {
  guest::lxc::LxcHandle handle;
  Attached(const GlobalOptions& global, const std::string& vmid) : handle(lxcpath(global), checked_vmid(vmid)) {
    if (!handle.running()) throw Error("CT " + vmid + " not running", 500);
  }
  // Runs argv in the container with the given standard descriptors; returns its exit code.
  int run(const std::vector<std::string>& argv, int in = 0, int out = 1, int err = 2) {
    lxc_attach_options_t options = LXC_ATTACH_OPTIONS_DEFAULT;
    options.env_policy = LXC_ATTACH_CLEAR_ENV;
    char path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char term_env[] = "TERM=linux";
    char* env[] = {path_env, term_env, nullptr};
    options.extra_env_vars = env;
    options.stdin_fd = in;
    options.stdout_fd = out;
    options.stderr_fd = err;
    std::vector<const char*> args;
    for (const auto& a : argv) args.push_back(a.c_str());
    args.push_back(nullptr);
    auto* c = handle.raw();
    return exit_code(c->attach_run_wait(c, &options, args[0], args.data()));
  }
};

// `pct exec <vmid> [--] <command> [args...]`
int exec_cmd(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"keep-env"});
  std::vector<std::string> command = a.rest;
  if (a.positional.size() > 1) command.insert(command.begin(), a.positional.begin() + 1, a.positional.end());
  if (a.positional.empty() || command.empty()) throw Error("usage: pct exec <vmid> [--] <command> [<args>...]", 400);
  Attached ct(global, a.positional[0]);
  return ct.run(command);
}

// `pct enter <vmid>`: a login shell of root in the container.
int enter(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {});
  if (a.positional.size() != 1) throw Error("usage: pct enter <vmid>", 400);
  Attached ct(global, a.positional[0]);
  return ct.run({"/bin/sh", "-l"});
}

// `pct console <vmid> [--escape ^a]`: the container's tty; Ctrl+a q leaves.
int console(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"escape"});
  if (a.positional.size() != 1) throw Error("usage: pct console <vmid> [--escape <char>]", 400);
  Attached ct(global, a.positional[0]);
  int escape = 1;  // ^a, as lxc-console
  if (auto it = a.options.find("escape"); it != a.options.end() && it->second.size() == 2 && it->second[0] == '^') {
    escape = (it->second[1] & 0x1f);
  }
  std::cerr << "Connected to CT " << a.positional[0] << " - press Ctrl+" << static_cast<char>('a' + escape - 1)
            << " q to leave\n";
  auto* c = ct.handle.raw();
  return c->console(c, -1, 0, 1, 2, escape) == 0 ? 0 : 1;
}

// `pct push <vmid> <file> <destination> [--perms 0644] [--user root] [--group root]`
int push(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"perms", "user", "group"});
  if (a.positional.size() != 3) throw Error("usage: pct push <vmid> <file> <destination> [OPTIONS]", 400);
  UniqueFd in(::open(a.positional[1].c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) throw Error("unable to open '" + a.positional[1] + "': " + std::strerror(errno), 400);
  Attached ct(global, a.positional[0]);
  const std::string& dest = a.positional[2];
  // umask 077 until the mode is set, so the file is never readable by others in between.
  std::string script = "umask 077 && cat > \"$1\"";
  if (a.options.count("perms")) script += " && chmod \"$2\" \"$1\"";
  if (a.options.count("user") || a.options.count("group")) script += " && chown \"$3\" \"$1\"";
  std::string owner = a.options.count("user") ? a.options["user"] : "";
  if (a.options.count("group")) owner += ":" + a.options["group"];
  int rc = ct.run({"/bin/sh", "-c", script, "sh", dest, a.options.count("perms") ? a.options["perms"] : "0644", owner}, in.fd);
  if (rc != 0) throw Error("unable to write '" + dest + "' in CT " + a.positional[0], 500);
  return 0;
}

// `pct pull <vmid> <path> <destination>`
int pull(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"perms", "user", "group"});
  if (a.positional.size() != 3) throw Error("usage: pct pull <vmid> <path> <destination>", 400);
  Attached ct(global, a.positional[0]);
  const std::string tmp = a.positional[2] + ".pull-" + std::to_string(::getpid());
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.fd < 0) throw Error("unable to create '" + a.positional[2] + "': " + std::strerror(errno), 400);
  int rc = ct.run({"/bin/sh", "-c", "cat -- \"$1\"", "sh", a.positional[1]}, 0, out.fd);
  out.reset();
  if (rc != 0) {
    ::unlink(tmp.c_str());
    throw Error("unable to read '" + a.positional[1] + "' in CT " + a.positional[0], 500);
  }
  if (a.options.count("perms")) ::chmod(tmp.c_str(), static_cast<mode_t>(std::stoul(a.options["perms"], nullptr, 8)));
  else ::chmod(tmp.c_str(), 0644);
  fs::rename(tmp, a.positional[2]);
  return 0;
}

// `pct unlock <vmid>`
int unlock(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {});
  if (a.positional.size() != 1) throw Error("usage: pct unlock <vmid>", 400);
  Client client(socket_path(global.data_dir));
  const std::string node = local_node(client);
  ApiReply r = client.call("PUT", "/nodes/" + node + "/lxc/" + checked_vmid(a.positional[0]) + "/config",
                           {{"delete", "lock"}});
  check_reply(r);
  return 0;
}

// The container's config and each mount point's volume path on this host, over the API.
struct CtVolumes {
  Client client;
  std::string node, vmid;
  nlohmann::json config;
  std::string base() const { return "/nodes/" + node + "/lxc/" + vmid; }
  nlohmann::json call(const std::string& method, const std::string& path, const nlohmann::json& params = nlohmann::json::object()) const {
    ApiReply r = client.call(method, path, params);
    check_reply(r);
    return r.body.value("data", nlohmann::json());
  }
  std::string volume_path(const std::string& volid) const {
    if (!volid.empty() && volid[0] == '/') return volid;
    auto colon = volid.find(':');
    return call("GET", "/nodes/" + node + "/storage/" + volid.substr(0, colon) + "/content/" + volid).value("path", "");
  }
};

CtVolumes open_ct(const GlobalOptions& global, const std::string& vmid) {
  CtVolumes ct{Client(socket_path(global.data_dir)), "", checked_vmid(vmid), nullptr};
  ct.node = local_node(ct.client);
  ct.config = ct.call("GET", ct.base() + "/config", {{"current", 1}});
  return ct;
}

// "rootfs" first, then mp0.. in index order: (key, volume, path inside).
std::vector<std::tuple<std::string, std::string, std::string>> mount_list(const nlohmann::json& config) {
  std::vector<std::tuple<std::string, std::string, std::string>> out;
  auto field = [](const std::string& value, const std::string& key) {
    for (const auto& part : split_any(value, ",")) {
      if (part.starts_with(key + "=")) return part.substr(key.size() + 1);
    }
    return std::string();
  };
  auto volume_of = [](const std::string& value) {
    std::string first = value.substr(0, value.find(','));
    return first.starts_with("volume=") ? first.substr(7) : first;
  };
  if (config.contains("rootfs")) out.emplace_back("rootfs", volume_of(config["rootfs"]), "/");
  for (int i = 0; i < 256; ++i) {
    const std::string key = "mp" + std::to_string(i);
    if (!config.contains(key)) continue;
    out.emplace_back(key, volume_of(config[key]), field(config[key], "mp"));
  }
  return out;
}

bool is_running(CtVolumes& ct) { return ct.call("GET", ct.base() + "/status/current").value("status", "") == "running"; }

// `pct mount <vmid>`: the stopped container's filesystems under <lxcpath>/<vmid>/rootfs, locked.
int mount_cmd(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {});
  if (a.positional.size() != 1) throw Error("usage: pct mount <vmid>", 400);
  auto ct = open_ct(global, a.positional[0]);
  if (is_running(ct)) throw Error("CT " + ct.vmid + " is running", 500);
  if (ct.config.contains("lock")) throw Error("CT is locked (" + ct.config["lock"].get<std::string>() + ")", 500);
  const fs::path root = lxcpath(global) / ct.vmid / "rootfs";
  ct.call("PUT", ct.base() + "/config", {{"lock", "mounted"}});
  try {
    for (const auto& [key, volid, inside] : mount_list(ct.config)) {
      const std::string path = ct.volume_path(volid);
      const fs::path target = key == "rootfs" ? root : root / fs::path(inside).relative_path();
      fs::create_directories(target);
      if (fs::is_directory(path)) run_command({"mount", "--bind", path, target.string()});
      else run_command({"mount", "-o", "loop", path, target.string()});
    }
  } catch (...) {
    run_command({"umount", "-R", "-l", root.string()}, {.check = false});
    ct.call("PUT", ct.base() + "/config", {{"delete", "lock"}});
    throw;
  }
  std::cout << "mounted CT " << ct.vmid << " in '" << root.string() << "'\n";
  return 0;
}

// `pct unmount <vmid>`
int unmount_cmd(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {});
  if (a.positional.size() != 1) throw Error("usage: pct unmount <vmid>", 400);
  auto ct = open_ct(global, a.positional[0]);
  const fs::path root = lxcpath(global) / ct.vmid / "rootfs";
  run_command({"umount", "-R", root.string()}, {.check = false});
  if (ct.config.value("lock", "") == "mounted") ct.call("PUT", ct.base() + "/config", {{"delete", "lock"}});
  return 0;
}

// `pct fsck <vmid> [--device rootfs|mpN] [--force]`: e2fsck of a stopped container's image.
int fsck_cmd(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"device", "force"});
  if (a.positional.size() != 1) throw Error("usage: pct fsck <vmid> [--device <rootfs|mpN>] [--force]", 400);
  auto ct = open_ct(global, a.positional[0]);
  if (is_running(ct)) throw Error("cannot run command on active container", 500);
  const std::string device = a.options.count("device") ? a.options["device"] : "rootfs";
  for (const auto& [key, volid, inside] : mount_list(ct.config)) {
    if (key != device) continue;
    const std::string path = ct.volume_path(volid);
    if (fs::is_directory(path)) throw Error("unable to run fsck for '" + volid + "' (format == subvol)", 500);
    std::vector<std::string> argv = {"e2fsck", "-p"};
    if (a.options.count("force") && truthy(a.options["force"])) argv.push_back("-f");
    argv.push_back(path);
    auto r = run_command(argv, {.timeout = std::chrono::hours(6), .check = false});
    std::cout << r.out << r.err;
    return r.exit_code <= 1 ? 0 : r.exit_code;  // 1: errors corrected
  }
  throw Error::param("device", "no mount point '" + device + "'");
}

// `pct df <vmid>`: usage of each mount point, read inside the running container.
int df_cmd(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {});
  if (a.positional.size() != 1) throw Error("usage: pct df <vmid>", 400);
  auto ct = open_ct(global, a.positional[0]);
  Attached attached(global, ct.vmid);
  std::printf("%-7s %-40s %10s %10s %10s %5s %s\n", "MP", "Volume", "Size", "Used", "Avail", "Use%", "Path");
  for (const auto& [key, volid, inside] : mount_list(ct.config)) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) throw Error("pipe failed", 500);
    UniqueFd rd(pipefd[0]), wr(pipefd[1]);
    int rc = attached.run({"df", "-P", "-k", inside}, 0, wr.fd);
    wr.reset();
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(rd.fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    auto lines = split_any(out, "\n");
    if (rc != 0 || lines.size() < 2) continue;
    auto cols = split_any(lines[1], " ");
    std::vector<std::string> v;
    for (auto& c : cols) if (!c.empty()) v.push_back(c);
    if (v.size() < 6) continue;
    auto human = [](const std::string& kib) {
      double x = std::stod(kib) * 1024;
      const char* units[] = {"B", "K", "M", "G", "T"};
      int u = 0;
      while (x >= 1024 && u < 4) { x /= 1024; ++u; }
      char s[32];
      std::snprintf(s, sizeof s, "%.1f%s", x, units[u]);
      return std::string(s);
    };
    std::printf("%-7s %-40s %10s %10s %10s %5s %s\n", key.c_str(), volid.c_str(), human(v[1]).c_str(),
                human(v[2]).c_str(), human(v[3]).c_str(), v[4].c_str(), inside.c_str());
  }
  return 0;
}

// `pct rescan [--vmid <vmid>] [--dryrun]`: volumes of a container that no key names become unusedN.
int rescan_cmd(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"vmid", "dryrun"});
  Client client(socket_path(global.data_dir));
  const std::string node = local_node(client);
  auto get = [&](const std::string& path, const nlohmann::json& params) {
    ApiReply r = client.call("GET", path, params);
    check_reply(r);
    return r.body.value("data", nlohmann::json::array());
  };
  std::vector<std::string> vmids;
  if (a.options.count("vmid")) vmids.push_back(checked_vmid(a.options["vmid"]));
  else for (const auto& c : get("/nodes/" + node + "/lxc", {})) vmids.push_back(std::to_string(c.value("vmid", 0)));
  const bool dry = a.options.count("dryrun") && truthy(a.options["dryrun"]);
  for (const auto& vmid : vmids) {
    auto ct = open_ct(global, vmid);
    std::set<std::string> used;
    int next_unused = 0;
    for (auto it = ct.config.begin(); it != ct.config.end(); ++it) {
      if (!it->is_string()) continue;
      std::string v = it->get<std::string>();
      used.insert(v.substr(0, v.find(',')));
      if (it.key().starts_with("unused")) next_unused = std::max(next_unused, std::stoi(it.key().substr(6)) + 1);
    }
    for (const auto& st : get("/nodes/" + node + "/storage", {{"content", "rootdir"}})) {
      for (const auto& vol : get("/nodes/" + node + "/storage/" + st.value("storage", "") + "/content",
                                 {{"content", "rootdir"}, {"vmid", std::stoll(vmid)}})) {
        const std::string volid = vol.value("volid", "");
        if (volid.empty() || used.count(volid)) continue;
        const std::string key = "unused" + std::to_string(next_unused++);
        std::cout << "CT " << vmid << ": add unreferenced volume '" << volid << "' as '" << key << "' to config\n";
        if (!dry) ct.call("PUT", ct.base() + "/config", {{key, volid}});
        used.insert(volid);
      }
    }
  }
  return 0;
}

}  // namespace

std::string pct_local_usage() {
  return "\n  pct exec <vmid> [--] <command> [<args>...]\n"
         "  pct enter <vmid>\n"
         "  pct console <vmid> [--escape ^a]\n"
         "  pct push <vmid> <file> <destination> [--perms <mode>] [--user <user>] [--group <group>]\n"
         "  pct pull <vmid> <path> <destination> [--perms <mode>]\n"
         "  pct unlock <vmid>\n"
         "  pct mount <vmid>\n"
         "  pct unmount <vmid>\n"
         "  pct fsck <vmid> [--device <rootfs|mpN>] [--force]\n"
         "  pct df <vmid>\n"
         "  pct rescan [--vmid <vmid>] [--dryrun]\n";
}

std::optional<int> run_pct_local(const Args& args, const GlobalOptions& global) {
  if (args.empty()) return std::nullopt;
  const std::string& cmd = args[0];
  Args rest(args.begin() + 1, args.end());
  if (cmd == "exec") return exec_cmd(rest, global);
  if (cmd == "enter") return enter(rest, global);
  if (cmd == "console") return console(rest, global);
  if (cmd == "push") return push(rest, global);
  if (cmd == "pull") return pull(rest, global);
  if (cmd == "unlock") return unlock(rest, global);
  if (cmd == "mount") return mount_cmd(rest, global);
  if (cmd == "unmount") return unmount_cmd(rest, global);
  if (cmd == "fsck") return fsck_cmd(rest, global);
  if (cmd == "df") return df_cmd(rest, global);
  if (cmd == "rescan") return rescan_cmd(rest, global);
  return std::nullopt;
}

}  // namespace pvx::cli
