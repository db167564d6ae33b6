#include "guest/qemu/cpu_models.h"

#include <algorithm>
#include <set>

namespace pvx::guest::qemu {
namespace {

const std::set<std::string>& intel_models() {
  static const std::set<std::string> models = {
      "486", "pentium", "pentium2", "pentium3", "coreduo", "core2duo", "Conroe", "Penryn", "Nehalem", "Nehalem-IBRS",
      "Westmere", "Westmere-IBRS", "SandyBridge", "SandyBridge-IBRS", "IvyBridge", "IvyBridge-IBRS", "Haswell",
      "Haswell-IBRS", "Haswell-noTSX", "Haswell-noTSX-IBRS", "Broadwell", "Broadwell-IBRS", "Broadwell-noTSX",
      "Broadwell-noTSX-IBRS", "Skylake-Client", "Skylake-Client-IBRS", "Skylake-Client-noTSX-IBRS", "Skylake-Server",
      "Skylake-Server-IBRS", "Skylake-Server-noTSX-IBRS", "Cascadelake-Server", "Cascadelake-Server-noTSX",
      "KnightsMill", "Icelake-Client", "Icelake-Client-noTSX", "Icelake-Server", "Icelake-Server-noTSX"};
  return models;
}

const std::set<std::string>& amd_models() {
  static const std::set<std::string> models = {"athlon",     "phenom",     "Opteron_G1", "Opteron_G2",
                                               "Opteron_G3", "Opteron_G4", "Opteron_G5", "EPYC",
                                               "EPYC-IBPB",  "EPYC-Rome",  "EPYC-Milan"};
  return models;
}

const std::set<std::string>& generic_models() {
  static const std::set<std::string> models = {"host", "kvm32", "kvm64", "qemu32", "qemu64", "max"};
  return models;
}

}  // namespace

const std::map<std::string, std::string>& builtin_cpu_models() {
  static const std::map<std::string, std::string> models = {
      {"x86-64-v2", "+popcnt;+pni;+sse4.1;+sse4.2;+ssse3"},
      {"x86-64-v2-AES", "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3"},
      {"x86-64-v3", "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3;+avx;+avx2;+bmi1;+bmi2;+f16c;+fma;+abm;+movbe;+xsave"},
      {"x86-64-v4",
       "+aes;+popcnt;+pni;+sse4.1;+sse4.2;+ssse3;+avx;+avx2;+bmi1;+bmi2;+f16c;+fma;+abm;+movbe;+xsave;+avx512f;"
       "+avx512bw;+avx512cd;+avx512dq;+avx512vl"},
  };
  return models;
}

std::optional<std::string> cpu_vendor(const std::string& model) {
  if (intel_models().count(model)) return "GenuineIntel";
  if (amd_models().count(model)) return "AuthenticAMD";
  if (generic_models().count(model) || builtin_cpu_models().count(model)) return "";
  return std::nullopt;
}

std::vector<CpuModel> cpu_models() {
  std::vector<CpuModel> out;
  for (const auto& m : intel_models()) out.push_back({m, "GenuineIntel"});
  for (const auto& m : amd_models()) out.push_back({m, "AuthenticAMD"});
  for (const auto& m : generic_models()) out.push_back({m, "default"});
  for (const auto& [m, flags] : builtin_cpu_models()) out.push_back({m, "default"});
  std::sort(out.begin(), out.end(), [](const CpuModel& a, const CpuModel& b) { return a.name < b.name; });
  return out;
}

const std::vector<CpuFlagInfo>& vm_settable_cpu_flags() {
  static const std::vector<CpuFlagInfo> flags = {
      {"md-clear", "Required to let the guest OS know if MDS is mitigated correctly."},
      {"pcid", "Meltdown fix cost reduction on Westmere, Sandy-, and IvyBridge Intel CPUs."},
      {"spec-ctrl", "Allows improved Spectre mitigation with Intel CPUs."},
      {"ssbd", "Protection for \"Speculative Store Bypass\" for Intel models."},
      {"ibpb", "Allows improved Spectre mitigation with AMD CPUs."},
      {"virt-ssbd", "Basis for \"Speculative Store Bypass\" protection for AMD models."},
      {"amd-ssbd", "Improves Spectre mitigation performance with AMD CPUs, best used with \"virt-ssbd\"."},
      {"amd-no-ssb", "Notifies the guest OS that the host is not vulnerable to Spectre on AMD CPUs."},
      {"pdpe1gb", "Allows the guest OS to use 1GB size pages, if supported by the host."},
      {"hv-tlbflush", "Improves performance of Windows guests with many vCPUs; needs hv-evmcs support."},
      {"hv-evmcs", "Improves performance of nested virtualization of Windows guests (Intel CPUs only)."},
      {"aes", "Activates AES instruction set support in the guest."},
  };
  return flags;
}

bool is_vm_settable_cpu_flag(const std::string& name) {
  const auto& flags = vm_settable_cpu_flags();
  return std::any_of(flags.begin(), flags.end(), [&](const CpuFlagInfo& f) { return f.name == name; });
}

}  // namespace pvx::guest::qemu
