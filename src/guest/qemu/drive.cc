// Drive keys: parse/print with the key formats vm_schema declares, plus the checks qemu-server's
// parse_drive adds on top of the schema (throttle pairs, cdrom restrictions).
#include "guest/qemu/drive.h"

#include <cstdio>
#include <regex>

#include "base/error.h"
#include "guest/qemu/vm_schema.h"
#include "schema/formats.h"
#include "schema/validate.h"
#include "schema/value_text.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;

struct Bus {
  const char* name;
  int count;
};
constexpr Bus kBuses[] = {{"ide", 4}, {"sata", 6}, {"scsi", 31}, {"virtio", 16}, {"efidisk", 1}, {"tpmstate", 1}};

// "scsi12" -> {"scsi", 12}; nullopt for anything that is not a drive key.
std::optional<std::pair<std::string, int>> split_drive_key(std::string_view key) {
  for (const auto& bus : kBuses) {
    std::string_view name = bus.name;
    if (key.size() <= name.size() || key.substr(0, name.size()) != name) continue;
    std::string_view digits = key.substr(name.size());
    if (digits.size() > 2 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    int index = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      index = index * 10 + (c - '0');
    }
    if (index >= bus.count) return std::nullopt;
    return std::make_pair(std::string(name), index);
  }
  return std::nullopt;
}

bool truthy(const Json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return !v.get<std::string>().empty() && v.get<std::string>() != "0";
  return true;
}

}  // namespace

bool Drive::is_cdrom() const {
  return opt("media") == "cdrom" || file == "cdrom" || file == "none";
}

bool Drive::is_cloudinit() const {
  static const std::regex re("[\\s\\S]*[:/](?:vm-\\d+-)?cloudinit(?:\\.(?:raw|qcow2?|qed|vmdk|cloop))?");
  return file.size() < 1024 && std::regex_match(file, re);
}

std::string Drive::opt(const std::string& name, const std::string& fallback) const {
  auto it = opts.find(name);
  if (it == opts.end() || it->is_null()) return fallback;
  return schema::value_text(*it);
}

std::optional<std::uint64_t> Drive::size_bytes() const {
  auto it = opts.find("size");
  if (it == opts.end() || it->is_null()) return std::nullopt;
  if (it->is_number_unsigned() || it->is_number_integer()) return it->get<std::uint64_t>();
  return schema::parse_disk_size(schema::value_text(*it));
}

void Drive::set_size_bytes(std::uint64_t bytes) { opts["size"] = schema::format_disk_size(bytes); }

bool is_drive_key(std::string_view key) { return split_drive_key(key).has_value(); }

const std::vector<std::string>& all_drive_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const auto& bus : kBuses) {
      for (int i = 0; i < bus.count; ++i) {
        out.push_back(std::string(bus.name) + std::to_string(i));
      }
    }
    return out;
  }();
  return keys;
}

Drive parse_drive(std::string_view key_view, std::string_view value) {
  const std::string key(key_view);
  auto bus = split_drive_key(key);
  const schema::Schema* keys = bus ? vm_key_format(key) : nullptr;
  if (keys == nullptr) throw Error::param(key, "invalid drive key '" + key + "'");
  Json parsed = schema::parse_property_string(*keys, value, key);

  Drive d;
  d.key = key;
  d.interface = bus->first;
  d.index = bus->second;
  if (auto f = parsed.find("file"); f != parsed.end()) d.file = schema::value_text(*f);
  parsed.erase("file");
  d.opts = std::move(parsed);

  // Byte-per-second limits are stored as MB/s, as qemu-server does when it reads them.
  for (const char* name : {"bps", "bps_rd", "bps_wr"}) {
    auto it = d.opts.find(name);
    if (it == d.opts.end()) continue;
    const std::string mname = std::string("m") + name;
    if (d.opts.contains(mname)) throw Error::param(key, std::string("both ") + name + " and " + mname + " specified");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", it->get<double>() / (1024.0 * 1024.0));
    d.opts[mname] = std::stod(buf);
    d.opts.erase(name);
  }
  static const std::pair<const char*, const char*> kRequires[] = {
      {"mbps_max", "mbps"},           {"mbps_rd_max", "mbps_rd"},         {"mbps_wr_max", "mbps_wr"},
      {"bps_max_length", "mbps_max"}, {"bps_rd_max_length", "mbps_rd_max"}, {"bps_wr_max_length", "mbps_wr_max"},
      {"iops_max_length", "iops_max"}, {"iops_rd_max_length", "iops_rd_max"}, {"iops_wr_max_length", "iops_wr_max"}};
  for (auto [option, needed] : kRequires) {
    if (truthy(d.opts.value(option, Json())) && !truthy(d.opts.value(needed, Json()))) {
      throw Error::param(key, std::string(option) + " requires " + needed);
    }
  }
  static const std::pair<const char*, const char*> kExclusive[] = {
      {"mbps_rd", "mbps"}, {"mbps_wr", "mbps"}, {"iops_rd", "iops"}, {"iops_wr", "iops"}};
  for (auto [a, b] : kExclusive) {
    if (truthy(d.opts.value(a, Json())) && truthy(d.opts.value(b, Json()))) {
      throw Error::param(key, std::string(a) + " and " + b + " are mutually exclusive");
    }
  }
  if (d.opt("media") == "cdrom") {
    if (truthy(d.opts.value("snapshot", Json())) || d.opts.contains("format")) {
      throw Error::param(key, "a cdrom drive takes neither 'snapshot' nor 'format'");
    }
    if (d.interface == "virtio") throw Error::param(key, "virtio drives cannot be cdroms");
  }
  if (d.opts.contains("size") && !d.size_bytes()) throw Error::param(key, "invalid size '" + d.opt("size") + "'");
  return d;
}

std::optional<Drive> try_parse_drive(std::string_view key, std::string_view value) {
  try {
    return parse_drive(key, value);
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::string print_drive(const Drive& drive) {
  std::string key = drive.key.empty() ? drive.interface + std::to_string(drive.index) : drive.key;
  const schema::Schema* keys = vm_key_format(key);
  if (keys == nullptr || !is_drive_key(key)) throw Error::param(key, "invalid drive key '" + key + "'");
  Json values = drive.opts.is_object() ? drive.opts : Json::object();
  values["file"] = drive.file;
  return schema::print_property_string(*keys, values);
}

std::optional<NewDiskRequest> parse_new_disk(const Drive& drive) {
  // qemu-server's NEW_DISK_RE: "[<storage>:]<size in GiB>".
  static const std::regex re("(?:([^:\\s]+):)?(\\d+(?:\\.\\d+)?)");
  std::smatch m;
  if (drive.file.size() > 256 || !std::regex_match(drive.file, m, re)) return std::nullopt;
  NewDiskRequest req;
  req.storage = m[1].str();
  req.size_gib = std::stod(m[2].str());
  return req;
}

}  // namespace pvx::guest::qemu
