#include "cli/printers.h"

#include <cstdio>

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

}  // namespace

std::optional<std::string> print_named(const std::string& printer, const nlohmann::json& data) {
  if (!data.is_array()) return std::nullopt;
  if (printer == "storage-status") return storage_status(data);
  if (printer == "storage-content") return storage_content(data);
  return std::nullopt;
}

}  // namespace pvx::cli
