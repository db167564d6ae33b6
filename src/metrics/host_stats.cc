#include "metrics/host_stats.h"

#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "base/atomic_file.h"

namespace pvx::metrics {
namespace {

std::uint64_t meminfo_kb(const std::string& text, std::string_view key) {
  auto pos = text.find(std::string(key) + ":");
  if (pos == std::string::npos) return 0;
  return std::stoull(text.substr(pos + key.size() + 1));
}

struct CpuSample {
  std::uint64_t total = 0, idle = 0, iowait = 0;
};

CpuSample read_cpu_sample() {
  std::ifstream in("/proc/stat");
  std::string label;
  CpuSample s;
  in >> label;
  std::uint64_t v[10] = {};
  for (auto& x : v) in >> x;
  for (int i = 0; i < 8; ++i) s.total += v[i];  // guest time is already in user/nice
  s.idle = v[3] + v[4];
  s.iowait = v[4];
  return s;
}

struct CpuUsage {
  std::mutex mutex;
  CpuSample last;
  std::chrono::steady_clock::time_point at;
  double cpu = 0, wait = 0, idle = 1;
};

CpuUsage& cpu_usage() {
  static CpuUsage u;
  return u;
}

void sample_cpu(HostStatus& st) {
  auto& u = cpu_usage();
  std::lock_guard lock(u.mutex);
  auto now = std::chrono::steady_clock::now();
  if (u.last.total == 0 || now - u.at >= std::chrono::seconds(1)) {
    CpuSample s = read_cpu_sample();
    if (u.last.total != 0 && s.total > u.last.total) {
      double d = static_cast<double>(s.total - u.last.total);
      u.idle = static_cast<double>(s.idle - u.last.idle) / d;
      u.wait = static_cast<double>(s.iowait - u.last.iowait) / d;
      u.cpu = 1.0 - u.idle;
    }
    u.last = s;
    u.at = now;
  }
  st.cpu = u.cpu;
  st.wait = u.wait;
  st.idle = u.idle;
}

}  // namespace

CpuInfo parse_cpuinfo(const std::string& text) {
  CpuInfo info;
  std::set<std::string> sockets;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "processor") ++info.cpus;
    else if (key == "model name" && info.model.empty()) info.model = value;
    else if (key == "physical id") sockets.insert(value);
    else if (key == "cpu cores" && info.cores == 0) info.cores = std::stoi(value);
    else if (key == "cpu MHz" && info.mhz.empty()) info.mhz = value;
    else if (key == "flags" && info.flags.empty()) info.flags = value;
  }
  info.sockets = sockets.empty() ? 1 : static_cast<int>(sockets.size());
  if (info.cores == 0) info.cores = info.cpus / info.sockets;
  info.hvm = info.flags.find(" vmx") != std::string::npos || info.flags.find(" svm") != std::string::npos ||
             info.flags.starts_with("vmx") || info.flags.starts_with("svm");
  info.user_hz = ::sysconf(_SC_CLK_TCK);
  return info;
}

MemoryInfo parse_meminfo(const std::string& text, bool swap) {
  MemoryInfo m;
  if (swap) {
    m.total = meminfo_kb(text, "SwapTotal") * 1024;
    m.free = meminfo_kb(text, "SwapFree") * 1024;
    m.available = m.free;
  } else {
    m.total = meminfo_kb(text, "MemTotal") * 1024;
    m.free = meminfo_kb(text, "MemFree") * 1024;
    m.available = meminfo_kb(text, "MemAvailable") * 1024;
  }
  m.used = m.total > m.available ? m.total - m.available : 0;
  return m;
}

HostStatus read_host_status(const std::string& rootfs_path) {
  HostStatus st;
  sample_cpu(st);
  if (auto text = read_file("/proc/loadavg")) {
    std::istringstream in(*text);
    in >> st.loadavg[0] >> st.loadavg[1] >> st.loadavg[2];
  }
  if (auto text = read_file("/proc/meminfo")) {
    st.memory = parse_meminfo(*text, false);
    st.swap = parse_meminfo(*text, true);
  }
  struct statvfs vfs {};
  if (::statvfs(rootfs_path.c_str(), &vfs) == 0) {
    st.rootfs_total = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    st.rootfs_free = static_cast<std::uint64_t>(vfs.f_bfree) * vfs.f_frsize;
    st.rootfs_avail = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    st.rootfs_used = st.rootfs_total - st.rootfs_free;
  }
  if (auto text = read_file("/proc/uptime")) st.uptime = static_cast<std::uint64_t>(std::stod(*text));
  if (auto text = read_file("/sys/kernel/mm/ksm/pages_shared")) {
    st.ksm_shared = std::stoull(*text) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  }
  struct utsname u {};
  if (::uname(&u) == 0) {
    st.sysname = u.sysname;
    st.release = u.release;
    st.version = u.version;
    st.machine = u.machine;
    st.kversion = st.sysname + " " + st.release + " " + st.version;
  }
  st.boot_mode = ::access("/sys/firmware/efi", F_OK) == 0 ? "efi" : "legacy-bios";
  static const CpuInfo cpuinfo = parse_cpuinfo(read_file("/proc/cpuinfo").value_or(""));
  st.cpuinfo = cpuinfo;
  return st;
}

}  // namespace pvx::metrics
