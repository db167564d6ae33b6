#pragma once
// The figures of a VM config that listings show (PVE's vmstatus): vCPUs, memory, the boot
// disk and its size. Pure functions of the main section.
#include <cstdint>
#include <string>

#include "guest/guest_config.h"

namespace pvx::guest::qemu {

// `vcpus` when set, else sockets * cores (PVE's `cpus` of a listing).
int vm_cpu_count(const ConfigSection& conf);
// `memory` ("2048" or "current=2048,...") in bytes; PVE's default 512 MiB.
std::uint64_t vm_max_memory(const ConfigSection& conf);
// The disk the VM boots from: the first disk of `boot: order=...`, else `bootdisk`, else the
// first disk in bus order. "" when there is none.
std::string vm_boot_disk(const ConfigSection& conf);
// size= of that disk in bytes (0 when unknown).
std::uint64_t vm_boot_disk_size(const ConfigSection& conf);

// The three together, as listings show them (cpus, maxmem, maxdisk).
struct VmFigures {
  int cpus = 1;
  std::uint64_t maxmem = 0;
  std::uint64_t maxdisk = 0;
};
VmFigures vm_figures(const ConfigSection& conf);

}  // namespace pvx::guest::qemu
