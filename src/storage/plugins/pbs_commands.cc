#include "storage/plugins/pbs_commands.h"

#include <algorithm>
#include <ctime>
#include <regex>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::storage::pbs {
namespace {

Json parse_json(std::string_view text, std::string_view what) {
  try {
    return Json::parse(trim(text));
  } catch (const Json::exception&) {
    throw Error("unexpected output of proxmox-backup-client " + std::string(what), 500);
  }
}

std::int64_t int_of(const Json& j, const char* key, std::int64_t fallback = 0) {
  auto it = j.find(key);
  return (it != j.end() && it->is_number()) ? it->get<std::int64_t>() : fallback;
}

// Days since 1970-01-01 of a civil date (proleptic Gregorian), without the local time zone.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

Remote remote_of(const StorageDef& def) {
  Remote r;
  r.server = def.str("server");
  r.port = static_cast<int>(def.integer("port", 0));
  r.datastore = def.str("datastore");
  r.username = def.str("username", "root@pam");
  r.ns = def.str("namespace");
  r.fingerprint = def.str("fingerprint");
  if (auto it = def.secrets.find("password"); it != def.secrets.end()) r.password = it->second;
  if (r.server.empty()) throw Error::param("server", "property is missing");
  if (r.datastore.empty()) throw Error::param("datastore", "property is missing");
  return r;
}

std::string repository(const Remote& r) {
  std::string server = r.server.find(':') != std::string::npos ? "[" + r.server + "]" : r.server;
  if (r.port != 0) server += ":" + std::to_string(r.port);
  return r.username + "@" + server + ":" + r.datastore;
}

std::vector<std::string> client_argv(const Remote& r, const std::vector<std::string>& cmd, bool json) {
  std::vector<std::string> argv = {std::string(kClient)};
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  if (json) argv.push_back("--output-format=json");
  argv.insert(argv.end(), {"--repository", repository(r)});
  // `status` is per datastore and takes no namespace.
  if (!r.ns.empty() && !(cmd.size() == 1 && cmd[0] == "status")) argv.insert(argv.end(), {"--ns", r.ns});
  return argv;
}

std::vector<std::string> client_env(const Remote& r) {
  std::vector<std::string> env = {"PROXMOX_OUTPUT_NO_BORDER=1", "PROXMOX_OUTPUT_NO_HEADER=1"};
  if (!r.password.empty()) env.push_back("PBS_PASSWORD=" + r.password);
  if (!r.fingerprint.empty()) env.push_back("PBS_FINGERPRINT=" + r.fingerprint);
  return env;
}

Snapshot parse_volname(std::string_view volname) {
  static const std::regex kVolname(R"(backup/([^\s_/]+)/([^\s_/]+)/(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(volname.begin(), volname.end(), m, kVolname)) {
    throw Error::param("volume", "unable to parse PBS volume name '" + std::string(volname) + "'");
  }
  auto n = [&](int i) { return std::stoll(m[i].str()); };
  if (n(4) < 1 || n(4) > 12 || n(5) < 1 || n(5) > 31 || n(6) > 23 || n(7) > 59 || n(8) > 60) {
    throw Error::param("volume", "invalid backup time in '" + std::string(volname) + "'");
  }
  Snapshot s;
  s.type = m[1].str();
  s.id = m[2].str();
  s.time = days_from_civil(n(3), static_cast<unsigned>(n(4)), static_cast<unsigned>(n(5))) * 86400 + n(6) * 3600 +
           n(7) * 60 + n(8);
  return s;
}

std::string format_time(std::int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string snapshot_path(const Snapshot& s) { return s.type + "/" + s.id + "/" + format_time(s.time); }

std::vector<VolumeInfo> parse_snapshot_list(std::string_view json, const std::string& storage, std::int64_t vmid) {
  static const std::regex kNumeric(R"(\d{1,9})");
  std::vector<VolumeInfo> out;
  auto j = parse_json(json, "snapshot list");
  if (j.is_object() && j.contains("data")) j = j["data"];
  if (!j.is_array()) throw Error("unexpected output of proxmox-backup-client snapshot list: not a list", 500);
  for (const auto& item : j) {
    auto type = item.value("backup-type", "");
    auto id = item.value("backup-id", "");
    if ((type != "vm" && type != "ct") || !std::regex_match(id, kNumeric)) continue;
    auto owner = std::stoll(id);
    if (vmid != 0 && owner != vmid) continue;
    auto time = int_of(item, "backup-time");
    VolumeInfo vi;
    vi.volid = storage + ":backup/" + type + "/" + id + "/" + format_time(time);
    vi.content = "backup";
    vi.format = "pbs-" + type;
    vi.size = int_of(item, "size", 1);
    vi.ctime = time;
    vi.vmid = owner;
    if (item.contains("comment") && item["comment"].is_string()) vi.notes = item["comment"].get<std::string>();
    vi.is_protected = item.value("protected", false);
    out.push_back(std::move(vi));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.volid < b.volid; });
  return out;
}

StorageStatus parse_status(std::string_view json) {
  auto j = parse_json(json, "status");
  if (!j.is_object()) throw Error("unexpected output of proxmox-backup-client status", 500);
  return StorageStatus{.total = int_of(j, "total"), .used = int_of(j, "used"), .avail = int_of(j, "avail"),
                       .active = true};
}

std::int64_t parse_files_size(std::string_view json) {
  auto j = parse_json(json, "snapshot files");
  std::int64_t total = 0;
  if (!j.is_array()) return 0;
  for (const auto& f : j) total += int_of(f, "size");
  return total;
}

std::string parse_notes(std::string_view output) {
  auto t = trim(output);
  if (t.empty()) return {};
  try {
    auto j = Json::parse(t);
    if (j.is_string()) return j.get<std::string>();
    if (j.is_object() && j.contains("notes") && j["notes"].is_string()) return j["notes"].get<std::string>();
    if (j.is_null()) return {};
  } catch (const Json::exception&) {
  }
  return std::string(t);
}

}  // namespace pvx::storage::pbs
