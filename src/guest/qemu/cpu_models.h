#pragma once
// The CPU models a VM's `cpu: cputype=` may name, with the vendor the guest sees, and the CPU
// flags a VM config may switch (`cpu: flags=+aes;-pcid`), as qemu-server knows them.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pvx::guest::qemu {

struct CpuModel {
  std::string name;
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", or "default" for the generic models
};

// Every model, generic ones (host, kvm64, max, x86-64-v2 ...) included, sorted by name.
std::vector<CpuModel> cpu_models();
// The vendor a model shows the guest ("" = the host's or QEMU's default); nullopt when unknown.
std::optional<std::string> cpu_vendor(const std::string& model);
// PVE's models that are qemu64 plus the flags of an x86-64 micro-architecture level.
const std::map<std::string, std::string>& builtin_cpu_models();

struct CpuFlagInfo {
  std::string name;
  std::string description;
};
// The flags a VM config may set or clear.
const std::vector<CpuFlagInfo>& vm_settable_cpu_flags();
bool is_vm_settable_cpu_flag(const std::string& name);

}  // namespace pvx::guest::qemu
