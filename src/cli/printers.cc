#include "cli/printers.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace pvx::cli {
namespace {

std::string fmt(const char* f, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, f, args...);
  return buf;
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

long long num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<long long>() : 0;
}

// `pvesm status`: sizes in KiB, as PVE prints them.
std::string storage_status(const nlohmann::json& data) {
  std::string out = fmt("%-10s %10s %10s %15s %15s %15s %8s\n", "Name", "Type", "Status", "Total", "Used",
                        "Available", "%");
  for (const auto& s : data) {
    const bool active = num(s, "active") != 0;
    const bool enabled = !s.contains("enabled") || num(s, "enabled") != 0;
    const char* status = !enabled ? "disabled" : active ? "active" : "inactive";
    long long total = num(s, "total") / 1024, used = num(s, "used") / 1024, avail = num(s, "avail") / 1024;
    double pct = total > 0 ? 100.0 * static_cast<double>(used) / static_cast<double>(total) : 0.0;
    out += fmt("%-10s %10s %10s %15lld %15lld %15lld %7.2f%%\n", str(s, "storage").c_str(), str(s, "type").c_str(),
               status, total, used, avail, pct);
  }
  return out;
}

// `pvesm list`: one volume per line.
std::string storage_content(const nlohmann::json& data) {
  std::size_t w = 5;
  for (const auto& v : data) w = std::max(w, str(v, "volid").size());
  std::string out = fmt("%-*s %6s %-8s %12s %s\n", static_cast<int>(w), "Volid", "Format", "Type", "Size", "VMID");
  for (const auto& v : data) {
    out += fmt("%-*s %6s %-8s %12lld %s\n", static_cast<int>(w), str(v, "volid").c_str(), str(v, "format").c_str(),
               str(v, "content").c_str(), num(v, "size"), str(v, "vmid").c_str());
  }
  return out;
}

// `qm list`: PVE's columns, memory in MiB and the boot disk in GiB.
std::string qm_list(const nlohmann::json& data) {
  std::string out = fmt("%10s %-20s %-10s %-10s %12s %-10s\n", "VMID", "NAME", "STATUS", "MEM(MB)", "BOOTDISK(GB)", "PID");
  for (const auto& v : data) {
    double disk = static_cast<double>(num(v, "maxdisk")) / (1024.0 * 1024.0 * 1024.0);
    out += fmt("%10s %-20s %-10s %-10lld %12.2f %-10lld\n", str(v, "vmid").c_str(), str(v, "name").c_str(),
               str(v, "status").c_str(), num(v, "maxmem") / (1024 * 1024), disk, num(v, "pid"));
  }
  return out;
}

// `pct list`: PVE's columns, sorted by id.
std::string pct_list(nlohmann::json data) {
  std::sort(data.begin(), data.end(), [](const auto& a, const auto& b) { return num(a, "vmid") < num(b, "vmid"); });
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-10s %-10s %-12s %-20s\n", "VMID", "Status", "Lock", "Name");
  out += line;
  for (const auto& v : data) {
    std::snprintf(line, sizeof line, "%-10lld %-10s %-12s %-20s\n", static_cast<long long>(num(v, "vmid")),
                  str(v, "status").c_str(), str(v, "lock").c_str(), str(v, "name").c_str());
    out += line;
  }
  return out;
}

// `qm config`: "key: value" lines, description first as PVE prints it, digest left out.
std::string qm_config(const nlohmann::json& data) {
  std::string out;
  if (data.contains("description")) out += "description: " + str(data, "description") + "\n";
  for (auto it = data.begin(); it != data.end(); ++it) {
    if (it.key() == "digest" || it.key() == "description") continue;
    out += it.key() + ": " + (it->is_string() ? it->get<std::string>() : it->dump()) + "\n";
  }
  return out;
}

// `qm pending`: "cur", "new" and "del" lines.
std::string qm_pending(const nlohmann::json& data) {
  std::string out;
  for (const auto& e : data) {
    const std::string key = str(e, "key");
    if (key == "digest") continue;
    if (e.contains("value")) out += "cur " + key + ": " + str(e, "value") + "\n";
    if (e.contains("pending")) out += "new " + key + ": " + str(e, "pending") + "\n";
    if (num(e, "delete") != 0) out += "del " + key + ": " + str(e, "value") + "\n";
  }
  return out;
}

}  // namespace

std::optional<std::string> print_named(const std::string& printer, const nlohmann::json& data) {
  if (data.is_object()) {
    if (printer == "qm-status") return "status: " + str(data, "status") + "\n";
    if (printer == "qm-config" || printer == "pct-config") return qm_config(data);
    return std::nullopt;
  }
  if (!data.is_array()) return std::nullopt;
  if (printer == "storage-status") return storage_status(data);
  if (printer == "storage-content") return storage_content(data);
  if (printer == "qm-list") return qm_list(data);
  if (printer == "pct-list") return pct_list(data);
  if (printer == "qm-pending" || printer == "pct-pending") return qm_pending(data);
  return std::nullopt;
}

}  // namespace pvx::cli
