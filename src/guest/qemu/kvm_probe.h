#pragma once
// Whether hardware virtualization works here. Opening /dev/kvm is not enough: with nested KVM
// on some hosts creating or running a vCPU hangs. The probe runs in a child process that creates
// a VM and a vCPU and runs a HLT instruction; a child that has not answered within the time
// limit is killed and KVM counts as unusable.
#include <chrono>
#include <string>

namespace pvx::guest::qemu {

struct KvmProbeResult {
  bool usable = false;
  std::string reason;  // why not: "/dev/kvm does not exist", "KVM_RUN timed out after 3 s", ...
};

KvmProbeResult probe_kvm(std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace pvx::guest::qemu
