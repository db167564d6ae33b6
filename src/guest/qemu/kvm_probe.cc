// The KVM probe: a forked child runs one HLT instruction in a real-mode vCPU and reports through
// a pipe; the parent never blocks longer than the time limit, whatever KVM does in the child.
#include "guest/qemu/kvm_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <linux/kvm.h>
#define PVX_KVM_PROBE_X86 1
#endif

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "base/child_reaper.h"
#include "guest/qemu/exit_watcher.h"

namespace pvx::guest::qemu {
namespace {

using Clock = std::chrono::steady_clock;

// What the child reports: the step it reached and errno (or the exit reason) there.
enum Step : int {
  kOk = 0,
  kOpen,
  kApiVersion,
  kCreateVm,
  kMemory,
  kSetMemoryRegion,
  kCreateVcpu,
  kVcpuMmapSize,
  kMapRun,
  kGetSregs,
  kSetSregs,
  kSetRegs,
  kRun,
  kExitReason,
};

struct Report {
  int step = 0;
  int value = 0;  // errno, the API version or the exit reason
};

std::string step_text(int step) {
  switch (step) {
    case kOpen: return "cannot open /dev/kvm";
    case kApiVersion: return "unexpected KVM API version";
    case kCreateVm: return "KVM_CREATE_VM failed";
    case kMemory: return "cannot allocate guest memory";
    case kSetMemoryRegion: return "KVM_SET_USER_MEMORY_REGION failed";
    case kCreateVcpu: return "KVM_CREATE_VCPU failed";
    case kVcpuMmapSize: return "KVM_GET_VCPU_MMAP_SIZE failed";
    case kMapRun: return "cannot map the vCPU's run structure";
    case kGetSregs: return "KVM_GET_SREGS failed";
    case kSetSregs: return "KVM_SET_SREGS failed";
    case kSetRegs: return "KVM_SET_REGS failed";
    case kRun: return "KVM_RUN failed";
    default: return "KVM probe failed";
  }
}

#ifdef PVX_KVM_PROBE_X86
// Runs in the forked child: system calls only.
Report run_hlt_guest() {
  constexpr std::uint64_t kGuestAddress = 0x1000;
  constexpr std::size_t kMemorySize = 0x1000;
  int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return {kOpen, errno};
  int version = ::ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) return {kApiVersion, version};
  int vm = ::ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return {kCreateVm, errno};
  void* mem = ::mmap(nullptr, kMemorySize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return {kMemory, errno};
  static_cast<unsigned char*>(mem)[0] = 0xf4;  // hlt
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = kGuestAddress;
  region.memory_size = kMemorySize;
  region.userspace_addr = reinterpret_cast<std::uint64_t>(mem);
  if (::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return {kSetMemoryRegion, errno};
  int vcpu = ::ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return {kCreateVcpu, errno};
  int run_size = ::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) return {kVcpuMmapSize, errno};
  void* run_map = ::mmap(nullptr, static_cast<std::size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run_map == MAP_FAILED) return {kMapRun, errno};
  auto* run = static_cast<kvm_run*>(run_map);

  // Real mode, code segment at 0: execution starts at the HLT.
  kvm_sregs sregs{};
  if (::ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return {kGetSregs, errno};
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (::ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return {kSetSregs, errno};
  kvm_regs regs{};
  regs.rip = kGuestAddress;
  regs.rflags = 0x2;  // bit 1 is always set
  if (::ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return {kSetRegs, errno};

  for (;;) {
    if (::ioctl(vcpu, KVM_RUN, 0) < 0) {
      if (errno == EINTR) continue;
      return {kRun, errno};
    }
    if (run->exit_reason == KVM_EXIT_HLT) return {kOk, 0};
    return {kExitReason, static_cast<int>(run->exit_reason)};
  }
}
#endif

std::string seconds_text(std::chrono::milliseconds t) {
  auto ms = t.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

}  // namespace

KvmProbeResult probe_kvm(std::chrono::milliseconds timeout) {
#ifndef PVX_KVM_PROBE_X86
  (void)timeout;
  return {false, "the KVM probe supports x86 hosts only"};
#else
  std::error_code ec;
  if (!std::filesystem::exists("/dev/kvm", ec)) return {false, "/dev/kvm does not exist"};
  if (::access("/dev/kvm", R_OK | W_OK) != 0) {
    return {false, std::string("cannot open /dev/kvm: ") + std::strerror(errno)};
  }

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {false, std::string("KVM probe: pipe: ") + std::strerror(errno)};
  const pid_t pid = spawn_claimed([&] {
    pid_t child = ::fork();
    if (child == 0) {
      ::close(fds[0]);
      Report report = run_hlt_guest();
      (void)!::write(fds[1], &report, sizeof report);
      ::_exit(0);
    }
    return child;
  });
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    return {false, std::string("KVM probe: fork: ") + std::strerror(errno)};
  }

  Report report{};
  bool answered = false;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r > 0) answered = ::read(fds[0], &report, sizeof report) == static_cast<ssize_t>(sizeof report);
    break;
  }
  ::close(fds[0]);

  if (!answered) ::kill(pid, SIGKILL);
  // A child stuck in the kernel may not die at once even from SIGKILL: the exit watcher reaps it
  // whenever it goes, the caller does not wait for it.
  watch_process_exit(pid, -1, true, nullptr);

  if (!answered) {
    if (Clock::now() >= deadline) return {false, "KVM_RUN timed out after " + seconds_text(timeout)};
    return {false, "KVM probe ended without an answer"};
  }
  if (report.step == kOk) return {true, ""};
  if (report.step == kApiVersion) return {false, "unexpected KVM API version " + std::to_string(report.value)};
  if (report.step == kExitReason) {
    return {false, "KVM_RUN exited with reason " + std::to_string(report.value) + " instead of HLT"};
  }
  return {false, step_text(report.step) + ": " + std::strerror(report.value)};
#endif
}

}  // namespace pvx::guest::qemu
