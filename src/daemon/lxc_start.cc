// pvx-lxc-start <lxcpath> <name>: starts one container through liblxc, daemonized, and prints
// its init pid. pvxd runs it for every container start (see guest/lxc/lxc_runtime.h).
#include <errno.h>  // before liblxc's headers, which use errno values without including it

#include <lxc/lxccontainer.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: pvx-lxc-start <lxcpath> <name>\n");
    return 2;
  }
  lxc_container* c = lxc_container_new(argv[2], argv[1]);
  if (c == nullptr) {
    std::fprintf(stderr, "cannot open container %s\n", argv[2]);
    return 1;
  }
  c->want_daemonize(c, true);
  // The monitor must not keep the caller's pipes open, or the caller waits for it to exit.
  c->want_close_all_fds(c, true);
  const bool ok = c->start(c, 0, nullptr);
  const pid_t pid = ok ? c->init_pid(c) : -1;
  lxc_container_put(c);
  if (!ok || pid <= 0) {
    std::fprintf(stderr, "startup for container '%s' failed\n", argv[2]);
    return 1;
  }
  std::printf("%d\n", static_cast<int>(pid));
  return 0;
}
