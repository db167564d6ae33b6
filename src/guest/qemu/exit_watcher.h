#pragma once
// The thread behind watch_vm_exit and SpawnOptions::on_exit: one poll() over the pidfds of the
// watched processes (pidfd_open works for any process, so re-adopted QEMUs are watched the
// same way as children). For children pvxd spawned, it is also their one waitpid() caller.
#include <functional>

namespace pvx::guest::qemu {

// Takes ownership of `pidfd` (-1: opened here; a process already gone fires at once). With
// `reap`, the process is a claimed child: it is waitpid()ed and released before `on_exit` runs.
void watch_process_exit(int pid, int pidfd, bool reap, std::function<void()> on_exit);

}  // namespace pvx::guest::qemu
