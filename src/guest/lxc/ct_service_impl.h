#pragma once
// CtService's private parts shared by its ct_service_*.cc files.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "guest/lxc/ct_service.h"
#include "guest/lxc/ct_setup.h"

namespace pvx::guest::lxc {

struct CtService::Cache {
  std::mutex mutex;
  bool scanned = false;
  std::uint64_t revision = 0;
  std::map<std::int64_t, std::shared_ptr<const CtLoaded>> configs;
  std::set<std::int64_t> starting;  // starts and stops in progress: exits are theirs to handle
  struct CpuSample {
    pid_t pid = 0;
    std::chrono::steady_clock::time_point at{};
    double cpu = 0;   // CPU seconds used so far
    double rate = 0;  // the last computed rate
  };
  std::map<std::int64_t, CpuSample> cpu_samples;
};

// Marks a start/stop of `vmid` in progress for its lifetime.
class BusyMark {
 public:
  BusyMark(CtService::Cache& cache, std::int64_t vmid) : cache_(cache), vmid_(vmid) {
    std::lock_guard lock(cache_.mutex);
    cache_.starting.insert(vmid_);
  }
  ~BusyMark() {
    std::lock_guard lock(cache_.mutex);
    cache_.starting.erase(vmid_);
  }

 private:
  CtService::Cache& cache_;
  std::int64_t vmid_;
};

// Error 500 naming /etc/subuid and/or /etc/subgid when newuidmap is installed and root lacks
// the range of PVE's id map there (ct_service_create.cc).
void check_subid_ranges();

// What the distribution setup needs of a config (ct_service_power.cc).
SetupParams ct_setup_params(std::int64_t vmid, const ConfigSection& conf, const std::string& ostype);

}  // namespace pvx::guest::lxc
