#include "guest/lxc/lxc_runtime.h"

#include <errno.h>  // before liblxc's headers, which use errno values without including it

#include <lxc/lxccontainer.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "base/error.h"
#include "base/process.h"

namespace pvx::guest::lxc {

LxcHandle::LxcHandle(const std::filesystem::path& lxcpath, const std::string& name) : name_(name) {
  c_ = lxc_container_new(name.c_str(), lxcpath.c_str());
  if (c_ == nullptr) throw Error("cannot open container " + name + " in " + lxcpath.string(), 500);
}

LxcHandle::~LxcHandle() {
  if (c_ != nullptr) lxc_container_put(c_);
}

std::string LxcHandle::state() {
  const char* s = c_->state(c_);
  return s != nullptr ? s : "STOPPED";
}

bool LxcHandle::running() { return c_->is_running(c_); }

pid_t LxcHandle::init_pid() { return c_->init_pid(c_); }

void LxcHandle::stop() {
  if (!c_->is_running(c_)) return;
  if (!c_->stop(c_)) throw Error("unable to stop container " + name_, 500);
}

bool LxcHandle::shutdown(std::chrono::seconds timeout) {
  if (!c_->is_running(c_)) return true;
  return c_->shutdown(c_, static_cast<int>(timeout.count()));
}

void LxcHandle::freeze() {
  if (!c_->freeze(c_)) throw Error("unable to freeze container " + name_, 500);
}

void LxcHandle::unfreeze() {
  if (!c_->unfreeze(c_)) throw Error("unable to unfreeze container " + name_, 500);
}

bool LxcHandle::wait_state(const std::string& state, std::chrono::seconds timeout) {
  return c_->wait(c_, state.c_str(), static_cast<int>(timeout.count()));
}

bool LxcHandle::set_cgroup(const std::string& key, const std::string& value) {
  return c_->set_cgroup_item(c_, key.c_str(), value.c_str());
}

std::string LxcHandle::get_cgroup(const std::string& key) {
  char buf[4096];
  int n = c_->get_cgroup_item(c_, key.c_str(), buf, sizeof buf);
  if (n <= 0) return {};
  std::string out(buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf - 1)));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\0')) out.pop_back();
  return out;
}

int LxcHandle::console_fd(int ttynum) {
  int ptx = -1;
  int fd = c_->console_getfd(c_, &ttynum, &ptx);
  if (fd < 0 || ptx < 0) throw Error("unable to open a console of container " + name_, 500);
  return ptx;
}


namespace {
// The last error lines liblxc logged, for the task log and the error message.
std::string log_tail(const std::filesystem::path& log_file, std::streamoff from) {
  std::ifstream in(log_file);
  if (!in) return {};
  in.seekg(from);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.find("ERROR") == std::string::npos) continue;
    auto at = line.find(" - ");
    out += (out.empty() ? "" : "\n") + (at == std::string::npos ? line : line.substr(at + 3));
  }
  return out;
}
}  // namespace

pid_t start_container(const std::filesystem::path& starter, const std::filesystem::path& lxcpath,
                      const std::string& name, const std::filesystem::path& log_file) {
  std::error_code ec;
  std::streamoff from = static_cast<std::streamoff>(std::filesystem::file_size(log_file, ec));
  if (ec) from = 0;
  auto r = run_command({starter.string(), lxcpath.string(), name},
                       {.timeout = std::chrono::seconds(120), .check = false});
  if (r.exit_code != 0) {
    std::string detail = log_tail(log_file, from);
    if (detail.empty()) detail = r.err;
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    throw Error("startup for container '" + name + "' failed" + (detail.empty() ? "" : ": " + detail), 500);
  }
  return static_cast<pid_t>(std::atoi(r.out.c_str()));
}

}  // namespace pvx::guest::lxc
