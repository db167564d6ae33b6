#pragma once
// Host status read from /proc and /sys: what GET /nodes/{node}/status, /nodes and
// /cluster/resources report about the machine pvx runs on.
#include <cstdint>
#include <string>

namespace pvx::metrics {

struct CpuInfo {
  std::string model;
  int cpus = 0;
  int sockets = 0;
  int cores = 0;  // per socket
  std::string mhz;
  std::string flags;
  bool hvm = false;
  long user_hz = 100;
};

struct MemoryInfo {
  std::uint64_t total = 0, used = 0, free = 0, available = 0;
};

struct HostStatus {
  double cpu = 0;     // 0..1 busy fraction since the previous sample
  double wait = 0;    // 0..1 iowait fraction
  double idle = 0;
  std::string loadavg[3];
  MemoryInfo memory, swap;
  std::uint64_t rootfs_total = 0, rootfs_used = 0, rootfs_avail = 0, rootfs_free = 0;
  std::uint64_t uptime = 0;
  std::uint64_t ksm_shared = 0;
  std::string kversion;  // "Linux <release> <version>"
  std::string sysname, release, version, machine;
  std::string boot_mode;  // "efi" or "legacy-bios"
  CpuInfo cpuinfo;
};

// Thread-safe. CPU usage is the busy fraction between this call and the previous one (at least
// 1 s apart; closer calls reuse the last figure), so two callers never see a 0-length window.
// `rootfs_path` is the file system whose usage is reported (PVE reports "/").
HostStatus read_host_status(const std::string& rootfs_path = "/");

// Parsers kept apart so they can be tested on captured text.
CpuInfo parse_cpuinfo(const std::string& text);
MemoryInfo parse_meminfo(const std::string& text, bool swap);

}  // namespace pvx::metrics
