// Guest config files as text <-> GuestConfig, by the rules of qemu-server's parse_vm_config and
// write_vm_config (see guest_config.h), plus the small helpers every guest operation needs:
// store paths, the lock check and `unusedN` bookkeeping.
#include "guest/guest_config.h"

#include <regex>
#include <set>

#include "base/error.h"
#include "config/text_codec.h"

namespace pvx::guest {
namespace {

constexpr int kMaxUnused = 256;

bool blank(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  }
  return true;
}

std::string rtrim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// "key: value" as PVE's /^([a-z][a-z_\-]*\d*):\s*(.+?)\s*$/ reads it; an empty key when
// the line is not of that shape.
std::pair<std::string, std::string> split_key_line(const std::string& line) {
  std::size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) return {};
  std::string key = line.substr(0, colon);
  std::size_t i = 0;
  if (!(key[0] >= 'a' && key[0] <= 'z')) return {};
  while (i < key.size() && ((key[i] >= 'a' && key[i] <= 'z') || key[i] == '_' || key[i] == '-')) ++i;
  while (i < key.size() && std::isdigit(static_cast<unsigned char>(key[i]))) ++i;
  if (i != key.size()) return {};
  std::size_t start = colon + 1;
  while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
  return {key, rtrim(line.substr(start))};
}

// A raw LXC line: "lxc.<key>: value" or "lxc.<key> = value" (pve-container accepts both).
std::optional<std::pair<std::string, std::string>> split_raw_lxc_line(const std::string& line) {
  if (!line.starts_with("lxc.")) return std::nullopt;
  std::size_t i = 4;
  auto key_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  };
  while (i < line.size() && key_char(line[i])) ++i;
  std::string key = line.substr(0, i);
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i >= line.size() || (line[i] != ':' && line[i] != '=')) return std::nullopt;
  ++i;
  while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
  return std::make_pair(key, rtrim(line.substr(i)));
}

// PVE reads a snapshot's state from any line ending in "snapstate: prepare|delete".
std::optional<std::string> snapstate_of(const std::string& line) {
  std::size_t at = line.rfind("snapstate:");
  if (at == std::string::npos) return std::nullopt;
  std::string rest = line.substr(at + 10);
  std::size_t start = 0;
  while (start < rest.size() && std::isspace(static_cast<unsigned char>(rest[start]))) ++start;
  rest = rtrim(rest.substr(start));
  if (rest == "prepare" || rest == "delete") return rest;
  return std::nullopt;
}

bool is_unused_key(std::string_view key) {
  static const std::regex re("unused\\d+");
  return std::regex_match(key.begin(), key.end(), re);
}

// Keys whose value names a volume in its first field: VM drives and CT mount points.
bool is_volume_key(std::string_view key) {
  static const std::regex re("(?:ide|sata|scsi|virtio)\\d+|efidisk0|tpmstate0|rootfs|mp\\d+");
  return std::regex_match(key.begin(), key.end(), re);
}

// The volume of a drive/mount point value: its first field, with an explicit "file="/"volume=".
std::string volume_of(const std::string& value) {
  std::string first = value.substr(0, value.find(','));
  for (std::string_view prefix : {"file=", "volume="}) {
    if (first.rfind(prefix, 0) == 0) return first.substr(prefix.size());
  }
  return first;
}

// As qemu-server's drive_is_cloudinit: "<storage>:cloudinit" or a vm-<id>-cloudinit volume.
bool is_cloudinit_volume(const std::string& volume) {
  static const std::regex re("[\\s\\S]*[:/](?:vm-\\d+-)?cloudinit(?:\\.(?:raw|qcow2?|qed|vmdk|cloop))?");
  return std::regex_match(volume, re);
}

bool has_cloudinit_drive(const ConfigSection& section) {
  for (const auto& [key, value] : section.values) {
    if (is_volume_key(key) && is_cloudinit_volume(volume_of(value))) return true;
  }
  return false;
}

// PVE's `delete:` list: items separated by commas, semicolons or blanks; "!" marks a forced delete.
void parse_pending_delete(std::string_view text, std::map<std::string, bool>& out) {
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    bool force = cur[0] == '!';
    out[force ? cur.substr(1) : cur] = force;
    cur.clear();
  };
  for (char c : text) {
    if (c == ',' || c == ';' || std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else {
      cur.push_back(c);
    }
  }
  flush();
}

std::string print_pending_delete(const std::map<std::string, bool>& deletes) {
  std::string out;
  for (const auto& [key, force] : deletes) {
    if (!out.empty()) out += ',';
    if (force) out += '!';
    out += key;
  }
  return out;
}

// One section's lines: description first, then keys in byte order. `extra` holds keys that are
// not in `values` but sort among them (the pending `delete`).
std::string print_section(const ConfigSection& section, bool pending,
                          const std::map<std::string, std::string>& extra = {}) {
  std::string out;
  if (section.description) {
    const std::string& d = *section.description;
    if (!d.empty()) {
      // Like Perl's split(/\n/): inner empty lines stay, trailing ones vanish.
      std::vector<std::string> lines;
      std::size_t pos = 0;
      while (pos <= d.size()) {
        std::size_t nl = d.find('\n', pos);
        lines.push_back(d.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
      while (!lines.empty() && lines.back().empty()) lines.pop_back();
      for (const auto& line : lines) out += "#" + config::encode_text(line) + "\n";
    } else if (pending) {
      out += "#\n";
    }
  }
  std::map<std::string, std::string> all = section.values;
  for (const auto& [k, v] : extra) all[k] = v;
  for (const auto& [key, value] : all) out += key + ": " + value + "\n";
  for (const auto& [key, value] : section.raw_lxc) out += key + ": " + value + "\n";
  return out;
}

}  // namespace

std::optional<std::string> ConfigSection::get(const std::string& key) const {
  auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::string ConfigSection::get_or(const std::string& key, const std::string& fallback) const {
  auto it = values.find(key);
  return it == values.end() ? fallback : it->second;
}

GuestConfig parse_guest_config(std::string_view text, std::int64_t vmid, std::vector<std::string>* warnings) {
  static const std::regex pending_re("\\[PENDING\\]\\s*", std::regex::icase);
  static const std::regex special_re("\\[special:(cloudinit|fleecing)\\]\\s*", std::regex::icase);
  static const std::regex snapshot_re("\\[([a-z][a-z0-9_\\-]+)\\]\\s*", std::regex::icase);
  static const std::regex other_section_re("\\[([^\\]]*)\\]\\s*");

  auto warn = [&](const std::string& msg) {
    if (warnings != nullptr) warnings->push_back("vm " + std::to_string(vmid) + " - " + msg);
  };

  GuestConfig config;
  ConfigSection* section = &config.main;
  bool in_pending = false;
  std::optional<std::string> descr;
  auto finish_description = [&] {
    if (descr && section != nullptr) section->description = rtrim(*descr);
    descr.reset();
  };
  std::set<std::string> seen_sections;

  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string line(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (blank(line)) continue;

    std::smatch m;
    if (line[0] == '[' && line.size() < 512) {
      finish_description();
      std::string name;
      if (std::regex_match(line, pending_re)) {
        name = "pending";
        section = &config.pending;
        in_pending = true;
      } else if (std::regex_match(line, m, special_re)) {
        name = "special:" + m[1].str();
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        section = &config.special[name.substr(8)];
        in_pending = false;
      } else if (std::regex_match(line, m, snapshot_re)) {
        name = m[1].str();
        section = &config.snapshots[name];
        in_pending = false;
      } else if (std::regex_match(line, m, other_section_re)) {
        warn("skipping unknown section: '" + m[1].str() + "'");
        section = nullptr;
        in_pending = false;
        continue;
      }
      if (!name.empty()) {
        if (!seen_sections.insert(name).second) warn("duplicate section: " + name);
        continue;
      }
    }
    if (section == nullptr) continue;

    if (line[0] == '#') {
      if (!descr) descr = std::string();
      *descr += config::decode_text(std::string_view(line).substr(1)) + "\n";
      continue;
    }
    // Key lines are split by hand: values (sshkeys, args) can be long, and std::regex recurses
    // per character.
    if (auto raw = split_raw_lxc_line(line)) {
      section->raw_lxc.push_back(std::move(*raw));
      continue;
    }
    auto [key, value] = split_key_line(line);
    if (key == "description" && !value.empty()) {
      if (!descr) descr = std::string();
      *descr += config::decode_text(value);
    } else if (auto state = snapstate_of(line)) {
      section->values["snapstate"] = *state;
    } else if (key == "delete" && !value.empty()) {
      if (in_pending) {
        parse_pending_delete(value, config.pending_delete);
      } else {
        warn("property 'delete' is only allowed in [PENDING]");
      }
    } else if (!key.empty() && !value.empty()) {
      if (key == "cdrom") key = "ide2";
      section->values[key] = value;
    } else {
      warn("unable to parse config: " + line);
    }
  }
  finish_description();
  config.main.values.erase("snapstate");  // only snapshots have a state
  return config;
}

std::string print_guest_config(const GuestConfig& config) {
  ConfigSection main = config.main;
  // PVE no longer writes `smp`; it becomes `sockets` (and drops `cores`, which smp did not mean).
  if (main.has("sockets")) {
    main.values.erase("smp");
  } else if (auto smp = main.get("smp")) {
    main.values["sockets"] = *smp;
    main.values.erase("cores");
    main.values.erase("smp");
  }
  main.values.erase("snapstate");

  // A volume a drive (of the main or pending section) names again is no longer unused.
  std::set<std::string> used;
  for (const ConfigSection* s : {&config.main, &config.pending}) {
    for (const auto& [key, value] : s->values) {
      if (is_volume_key(key)) used.insert(volume_of(value));
    }
  }
  for (auto it = main.values.begin(); it != main.values.end();) {
    it = is_unused_key(it->first) && used.count(it->second) ? main.values.erase(it) : std::next(it);
  }

  std::string out = print_section(main, false);
  if (config.has_pending()) {
    std::map<std::string, std::string> extra;
    if (!config.pending_delete.empty()) extra["delete"] = print_pending_delete(config.pending_delete);
    out += "\n[PENDING]\n" + print_section(config.pending, true, extra);
  }
  for (const auto& [name, section] : config.special) {
    if (name == "cloudinit" && !has_cloudinit_drive(config.main)) continue;
    out += "\n[special:" + name + "]\n" + print_section(section, false);
  }
  for (const auto& [name, section] : config.snapshots) {
    out += "\n[" + name + "]\n" + print_section(section, false);
  }
  return out;
}

std::string qemu_config_path(const std::string& node, std::int64_t vmid) {
  return "nodes/" + node + "/qemu-server/" + std::to_string(vmid) + ".conf";
}

std::string lxc_config_path(const std::string& node, std::int64_t vmid) {
  return "nodes/" + node + "/lxc/" + std::to_string(vmid) + ".conf";
}

bool is_known_lock(std::string_view lock) {
  // The VM locks, and the container-only ones (mounted, disk, fstrim, destroyed).
  static const std::set<std::string, std::less<>> kLocks = {
      "backup",  "clone",    "create",          "migrate",   "rollback", "snapshot",
      "snapshot-delete",     "suspended",       "suspending", "mounted", "disk",
      "fstrim",  "destroyed"};
  return kLocks.count(lock) != 0;
}

void check_not_locked(const GuestConfig& config, bool skiplock) {
  if (skiplock) return;
  auto lock = config.main.get("lock");
  if (lock && !lock->empty()) throw Error("VM is locked (" + *lock + ")", 500);
}

std::string next_unused_key(const ConfigSection& section) {
  for (int i = 0; i < kMaxUnused; ++i) {
    std::string key = "unused" + std::to_string(i);
    if (!section.has(key)) return key;
  }
  throw Error("Too many unused volumes - please delete them first.", 500);
}

std::string add_unused_volume(ConfigSection& section, const std::string& volid) {
  for (const auto& [key, value] : section.values) {
    if (is_unused_key(key) && value == volid) return "";
    if (is_volume_key(key) && volume_of(value) == volid) return "";
  }
  std::string key = next_unused_key(section);
  section.values[key] = volid;
  return key;
}

}  // namespace pvx::guest
