// pct commands that run in the CLI process on the container's host, as PVE's do: exec, enter
// and console attach to the container through liblxc; push and pull copy a file through a
// process attached to it (so paths resolve inside the container, symlinks included, and files
// get the container's ids); unlock clears a config lock through the API.
#include <errno.h>  // before liblxc's headers, which use errno values without including it

#include <fcntl.h>
#include <lxc/lxccontainer.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>

#include "base/error.h"
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

}  // namespace

std::string pct_local_usage() {
  return "\n  pct exec <vmid> [--] <command> [<args>...]\n"
         "  pct enter <vmid>\n"
         "  pct console <vmid> [--escape ^a]\n"
         "  pct push <vmid> <file> <destination> [--perms <mode>] [--user <user>] [--group <group>]\n"
         "  pct pull <vmid> <path> <destination> [--perms <mode>]\n"
         "  pct unlock <vmid>\n";
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
  return std::nullopt;
}

}  // namespace pvx::cli
