#pragma once
// A file descriptor closed when its owner goes: the pipes, pidfds and files of process code.
#include <unistd.h>

namespace pvx {

struct UniqueFd {
  int fd = -1;
  UniqueFd() = default;
  explicit UniqueFd(int f) : fd(f) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  // Gives the descriptor up without closing it.
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

}  // namespace pvx
