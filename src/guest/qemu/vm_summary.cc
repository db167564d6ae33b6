#include "guest/qemu/vm_summary.h"

#include "base/strings.h"
#include "guest/qemu/drive.h"

namespace pvx::guest::qemu {
namespace {

int int_or(const ConfigSection& conf, const char* key, int fallback) {
  auto v = conf.get(key);
  if (!v) return fallback;
  auto n = to_int(*v);
  return n && *n > 0 ? *n : fallback;
}

bool is_disk(const ConfigSection& conf, const std::string& key) {
  auto v = conf.get(key);
  if (!v || key.starts_with("efidisk") || key.starts_with("tpmstate")) return false;
  auto d = try_parse_drive(key, *v);
  return d && !d->is_cdrom() && !d->is_cloudinit();
}

}  // namespace

int vm_cpu_count(const ConfigSection& conf) {
  if (int v = int_or(conf, "vcpus", 0)) return v;
  return int_or(conf, "sockets", 1) * int_or(conf, "cores", 1);
}

std::uint64_t vm_max_memory(const ConfigSection& conf) {
  std::string v = conf.get_or("memory", "512");
  if (v.starts_with("current=")) v = v.substr(8);
  v = v.substr(0, v.find(','));
  auto n = to_int(v);
  return static_cast<std::uint64_t>(n && *n > 0 ? *n : 512) * 1024 * 1024;
}

std::string vm_boot_disk(const ConfigSection& conf) {
  auto boot = conf.get_or("boot", "");
  auto at = boot.find("order=");
  if (at != std::string::npos) {
    auto list = boot.substr(at + 6);
    list = list.substr(0, list.find(','));
    for (const auto& key : split_any(list, ";")) {
      if (is_disk(conf, key)) return key;
    }
  }
  if (auto bd = conf.get("bootdisk"); bd && is_disk(conf, *bd)) return *bd;
  for (const auto& key : all_drive_keys()) {
    if (is_disk(conf, key)) return key;
  }
  return {};
}

std::uint64_t vm_boot_disk_size(const ConfigSection& conf) {
  auto key = vm_boot_disk(conf);
  if (key.empty()) return 0;
  auto d = try_parse_drive(key, conf.get_or(key, ""));
  if (!d) return 0;
  return d->size_bytes().value_or(0);
}

VmFigures vm_figures(const ConfigSection& conf) {
  return {vm_cpu_count(conf), vm_max_memory(conf), vm_boot_disk_size(conf)};
}

}  // namespace pvx::guest::qemu
