#include "storage/plugins/block_util.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "storage/stream_util.h"

namespace pvx::storage::block {

std::vector<std::string> lines(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    auto line = trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    if (!line.empty()) out.emplace_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::vector<std::string> fields(std::string_view line, char sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    auto at = line.find(sep, pos);
    out.emplace_back(line.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
    if (at == std::string_view::npos) break;
    pos = at + 1;
  }
  return out;
}

std::optional<std::int64_t> to_int(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

namespace {

// The disk number of "<prefix>-<vmid>-disk-<n>[.<ext>]", or -1.
long disk_number(std::string_view name, std::string_view prefix, std::int64_t vmid) {
  std::string head = std::string(prefix) + "-" + std::to_string(vmid) + "-disk-";
  if (name.substr(0, head.size()) != head) return -1;
  auto rest = name.substr(head.size());
  auto dot = rest.find('.');
  if (dot != std::string_view::npos) rest = rest.substr(0, dot);
  auto n = to_int(rest);
  return n ? static_cast<long>(*n) : -1;
}

}  // namespace

std::string next_disk_name(const std::vector<std::string>& existing, std::int64_t vmid, std::string_view prefix,
                           std::initializer_list<std::string_view> prefixes) {
  constexpr long kMaxDisks = 1000;  // PVE's bound on volumes per guest and storage
  std::set<long> used;
  for (const auto& name : existing) {
    for (auto p : prefixes) {
      long n = disk_number(name, p, vmid);
      if (n >= 0) used.insert(n);
    }
  }
  for (long n = 0; n < kMaxDisks; ++n) {
    if (!used.count(n)) return std::string(prefix) + "-" + std::to_string(vmid) + "-disk-" + std::to_string(n);
  }
  throw Error("unable to allocate an image name for VM " + std::to_string(vmid) + ": too many disks", 500);
}

void check_owned_name(std::string_view name, std::string_view prefix, std::int64_t vmid) {
  std::string head = std::string(prefix) + "-" + std::to_string(vmid) + "-";
  bool ok = name.size() > head.size() && name.substr(0, head.size()) == head;
  for (char c : name) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@' || c == '\0') ok = false;
  }
  if (!ok) {
    throw Error::param("name", "illegal name '" + std::string(name) + "' - should be '" + head + "*'");
  }
}

void check_snapshot_name(std::string_view snap) {
  bool ok = !snap.empty() && snap.size() <= 40 && std::isalpha(static_cast<unsigned char>(snap[0]));
  for (char c : snap) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) ok = false;
  }
  if (!ok) throw Error::param("snapname", "invalid snapshot name '" + std::string(snap) + "'");
}

VolumeState volume_state(const VolumeName& v, std::string_view snapshot) {
  if (!snapshot.empty()) return VolumeState::Snap;
  return v.is_base ? VolumeState::Base : VolumeState::Current;
}

bool feature_in(const std::vector<FeatureRow>& table, Feature f, VolumeState state) {
  for (const auto& row : table) {
    if (row.feature == f) return std::find(row.states.begin(), row.states.end(), state) != row.states.end();
  }
  return false;
}

void export_raw_device(const std::string& device, int out_fd) {
  auto res = run_command({"blockdev", "--getsize64", device});
  auto size = to_int(trim(res.out));
  if (!size) throw Error("unexpected output from blockdev for '" + device + "': " + res.out, 500);
  write_size_header(out_fd, *size);
  CommandOptions opts;
  opts.stdout_fd = out_fd;
  opts.timeout = std::chrono::hours(24);
  run_command({"dd", "if=" + device, "bs=64k", "status=none"}, opts);
}

void copy_stream_to_device(int in_fd, const std::string& device) {
  CommandOptions opts;
  opts.stdin_fd = in_fd;
  opts.timeout = std::chrono::hours(24);
  run_command({"dd", "of=" + device, "bs=64k", "status=none"}, opts);
}

bool lists_images(const ContentSet& content) {
  return content.empty() || content.count("images") || content.count("rootdir");
}

VolumeInfo raw_image_entry(const StorageDef& def, const std::string& name, std::int64_t size, std::int64_t vmid,
                           std::int64_t ctime) {
  VolumeInfo vi;
  vi.volid = def.id + ":" + name;
  vi.content = "images";
  vi.format = "raw";
  vi.size = size;
  vi.ctime = ctime;
  vi.vmid = vmid;
  return vi;
}

void check_raw_transfer(std::string_view type, const std::string& format, const TransferOptions& options) {
  if (format != "raw+size") {
    throw Error::param("format", "volume export format '" + format + "' not available for " + std::string(type));
  }
  if (options.with_snapshots || !options.snapshot.empty() || !options.base_snapshot.empty()) {
    throw Error::param("snapshot", std::string(type) + " transfers only the current state of a volume");
  }
}

std::string required(const StorageDef& def, const std::string& key) {
  auto value = def.str(key);
  if (value.empty()) throw Error::param(key, "property is missing");
  return value;
}

const HostEnv& host_of(const StorageDef& def) {
  if (!def.host) throw Error("storage '" + def.id + "' has no host environment", 500);
  return *def.host;
}

}  // namespace pvx::storage::block
