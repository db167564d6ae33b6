#pragma once
// Runs external tools (qemu-img, btrfs, lvcreate, zfs, mount, ...) without a shell: argv is
// passed as is, so no value from an API request is ever interpreted by /bin/sh. Output is
// captured (or streamed through caller-given file descriptors), a timeout kills the whole
// process group, and failures become pvx::Error with the tool's own message.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace pvx {

struct CommandOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::string input;           // written to stdin (ignored when stdin_fd is set)
  int stdin_fd = -1;           // stream stdin from this fd (e.g. a volume import)
  int stdout_fd = -1;          // stream stdout to this fd instead of capturing it
  bool check = true;           // throw when the exit status is not 0
  std::vector<std::string> env;  // extra "NAME=value" entries (e.g. PBS_PASSWORD)
  std::size_t output_limit = 64 << 20;  // captured stdout beyond this is an error
};

struct CommandResult {
  int exit_code = 0;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

// Throws Error(500) "command '<argv>' failed: <last stderr line> (exit code N)" when `check`
// and the exit status is not 0, "... timed out after N s" on timeout, and "command 'x' not
// found" when argv[0] is not installed.
CommandResult run_command(const std::vector<std::string>& argv, const CommandOptions& options = {});

// argv as a copyable shell-quoted line, for task logs and messages.
std::string command_text(const std::vector<std::string>& argv);

// The executable `name` resolves to: itself when it contains '/', else the first match in PATH
// (the usual directories when PATH is unset); "" when there is none.
std::string find_program(std::string_view name);

// Whether `name` is an executable in PATH (or an absolute path to one).
bool command_exists(std::string_view name);

}  // namespace pvx
