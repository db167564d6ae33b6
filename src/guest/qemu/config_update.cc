// PVE's config update semantics on GuestConfig (see config_update.h): staging into [PENDING],
// applying pending changes, fast plug, and the GET /config and /pending views.
#include "guest/qemu/config_update.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include "base/error.h"
#include "base/random.h"
#include "guest/qemu/drive.h"
#include "guest/qemu/net.h"
#include "guest/qemu/vm_schema.h"
#include "schema/formats.h"
#include "schema/validate.h"
#include "schema/value_text.h"

namespace pvx::guest::qemu {
namespace {

using schema::Json;

constexpr const char* kMaskedPassword = "**********";

// Parameters of the config methods that are not config keys.
bool is_method_param(const std::string& key) {
  static const std::set<std::string> kParams = {"node",     "vmid",      "digest", "delete", "revert",
                                                "force",    "skiplock",  "background_delay",
                                                "import-working-storage", "skip_cloud_init"};
  return kParams.count(key) != 0;
}

// PVE's option_exists: any key of its config declaration, internal ones included.
bool option_exists(const std::string& key) {
  return vm_key_schema(key) != nullptr || (is_internal_vm_key(key) && key != "digest" && key != "pending");
}

bool is_unused_key(std::string_view key) {
  if (key.substr(0, 6) != "unused" || key.size() == 6) return false;
  return std::all_of(key.begin() + 6, key.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// An unusedN value: "[file=]<volume>".
std::string unused_volume(const std::string& value) {
  for (std::string_view prefix : {"file=", "volume="}) {
    if (value.rfind(prefix, 0) == 0) return value.substr(prefix.size());
  }
  return value;
}

// The VM a volume belongs to, from its name ("local:100/vm-100-disk-0.qcow2", "fast:base-9000-disk-0").
std::optional<std::int64_t> volume_owner(const std::string& volid) {
  static const std::regex re("[^:/]+:(?:\\d+/)?(?:[^/]*/)?(?:vm|base|subvol|basevol)-(\\d+)-[\\s\\S]*");
  std::smatch m;
  if (volid.size() > 1024 || !std::regex_match(volid, m, re)) return std::nullopt;
  return std::stoll(m[1].str());
}

bool is_storage_volume(const std::string& volid) {
  return !volid.empty() && volid[0] != '/' && !schema::check_format("pve-volume-id", volid);
}

bool owned(const std::string& volid, std::int64_t vmid) {
  if (vmid == 0) return true;
  auto owner = volume_owner(volid);
  return owner && *owner == vmid;
}

// qemu-server's vmconfig_register_unused_drive: a disk that leaves the config stays as unusedN;
// a cloud-init disk is destroyed; cdroms and foreign volumes are simply forgotten.
void register_unused_drive(GuestConfig& config, const Drive& drive, std::int64_t vmid,
                           std::vector<std::string>& to_free) {
  if (drive.is_cloudinit()) {
    if (is_storage_volume(drive.file) && owned(drive.file, vmid)) to_free.push_back(drive.file);
    config.special.erase("cloudinit");
    return;
  }
  if (drive.is_cdrom() || !is_storage_volume(drive.file) || !owned(drive.file, vmid)) return;
  add_unused_volume(config.main, drive.file);
}

// Whether a drive (other than `skip_key` of the main section) or a snapshot still uses `volid`.
bool volume_in_use(const GuestConfig& config, const std::string& skip_key, const std::string& volid) {
  auto scan = [&](const ConfigSection& s, const std::string& skip) {
    for (const auto& [key, value] : s.values) {
      if (!is_drive_key(key) || key == skip) continue;
      auto d = try_parse_drive(key, value);
      if (d && !d->file.empty() && !d->is_cdrom() && d->file == volid) return true;
    }
    return false;
  };
  if (scan(config.main, skip_key)) return true;
  for (const auto& [name, snap] : config.snapshots) {
    if (scan(snap, "")) return true;
    if (snap.get_or("vmstate", "") == volid) return true;
  }
  return false;
}

// qemu-server's try_deallocate_drive for a forced delete: the volume is destroyed when this VM
// owns it (and nothing else uses it); cdroms are kept.
void deallocate_drive(const GuestConfig& config, const std::string& key, const Drive& drive, std::int64_t vmid,
                      std::vector<std::string>& to_free) {
  if (drive.is_cdrom() || !is_storage_volume(drive.file) || !owned(drive.file, vmid)) return;
  if (volume_in_use(config, key, drive.file)) {
    throw Error("unable to delete '" + drive.file + "' - volume is still in use (snapshot?)", 500);
  }
  to_free.push_back(drive.file);
}

void check_protection(const GuestConfig& config, const std::string& what) {
  auto p = config.main.get("protection");
  if (p && (*p == "1" || *p == "on" || *p == "yes" || *p == "true")) {
    throw Error(what + " - protection mode enabled", 500);
  }
}

std::string print_boot_order(const std::vector<std::string>& devs) {
  if (devs.empty()) return "";
  std::string order;
  for (const auto& d : devs) order += (order.empty() ? "" : ";") + d;
  return "order=" + order;
}

// GuestHelpers::get_unique_tags with the default tag style: case-insensitive, sorted.
std::string unique_tags(const std::string& text) {
  std::vector<std::string> tags = schema::split_list(text);
  for (auto& t : tags) {
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ";") + t;
  return out;
}

// The MiB of a `memory` value ("[current=]<MiB>", 512 when unset).
double current_memory(const std::string& value) {
  if (value.empty()) return 512;
  if (const schema::Schema* keys = vm_key_format("memory")) {
    try {
      Json m = schema::parse_property_string(*keys, value, "memory");
      if (m.contains("current")) return m["current"].get<double>();
    } catch (const Error&) {
    }
  }
  return 512;
}

std::optional<double> number_of(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  try {
    return std::stod(*text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// PVE's cleanup_pending: drop pending values equal to the main one and deletes of absent keys.
void cleanup_pending(GuestConfig& config) {
  for (auto it = config.pending.values.begin(); it != config.pending.values.end();) {
    auto main_value = config.main.get(it->first);
    it = main_value && *main_value == it->second ? config.pending.values.erase(it) : std::next(it);
  }
  if (config.pending.description && config.main.description &&
      *config.pending.description == *config.main.description) {
    config.pending.description.reset();
  }
  for (auto it = config.pending_delete.begin(); it != config.pending_delete.end();) {
    bool present = it->first == "description" ? config.main.description.has_value() : config.main.has(it->first);
    it = present ? std::next(it) : config.pending_delete.erase(it);
  }
}

}  // namespace

ConfigChanges parse_config_changes(const Json& params, const std::string& mac_prefix) {
  ConfigChanges c;
  std::string delete_text, revert_text;
  for (const auto& [key, value] : params.items()) {
    if (value.is_null()) continue;
    if (key == "digest") {
      c.digest = schema::value_text(value);
    } else if (key == "delete") {
      delete_text = schema::value_text(value);
    } else if (key == "revert") {
      revert_text = schema::value_text(value);
    } else if (key == "force") {
      c.force = value.is_boolean() ? value.get<bool>() : schema::value_text(value) == "1";
    } else if (!is_method_param(key) && vm_key_schema(key) != nullptr) {
      c.set[key] = schema::value_text(value);
    }
  }
  if (auto cd = c.set.find("cdrom"); cd != c.set.end()) {
    std::string v = cd->second;
    c.set.erase(cd);
    if (!v.empty() && v != "0") {
      if (v.find("media=") == std::string::npos) v += ",media=cdrom";
      c.set["ide2"] = v;
    }
  }
  if (delete_text.empty() && revert_text.empty() && c.set.empty()) throw Error("no options specified", 500);

  for (const auto& opt : schema::split_list(revert_text)) {
    if (!option_exists(opt)) throw Error::param("revert", "unknown option '" + opt + "'");
    if (c.set.count(opt)) {
      throw Error::param("delete", "you can't use '-" + opt + "' and -revert " + opt + "' at the same time");
    }
    c.revert.push_back(opt);
  }
  for (auto opt : schema::split_list(delete_text)) {
    if (opt == "cdrom") opt = "ide2";
    if (c.set.count(opt)) {
      throw Error::param("delete", "you can't use '-" + opt + "' and -delete " + opt + "' at the same time");
    }
    if (std::find(c.revert.begin(), c.revert.end(), opt) != c.revert.end()) {
      throw Error::param("revert", "you can't use '-delete " + opt + "' and -revert " + opt + "' at the same time");
    }
    if (!option_exists(opt)) throw Error::param("delete", "unknown option '" + opt + "'");
    if (std::find(c.deletes.begin(), c.deletes.end(), opt) == c.deletes.end()) c.deletes.push_back(opt);
  }

  for (auto& [key, value] : c.set) {
    if (is_net_key(key)) {
      NetDevice net = parse_net(key, value);
      if (net.macaddr.empty()) net.macaddr = generate_mac(mac_prefix);
      value = print_net(net);
    } else if (key == "vmgenid" && value == "1") {
      value = random_uuid();
    } else if (key == "cpuunits") {
      if (auto n = number_of(value)) value = schema::number_text(std::clamp(*n, 1.0, 10000.0));
    }
  }
  return c;
}

StageResult stage_changes(GuestConfig& config, const ConfigChanges& changes, std::int64_t vmid) {
  StageResult result;
  for (const auto& [key, value] : changes.set) check_vm_value(key, value);

  std::vector<std::string> deletes = changes.deletes;
  std::map<std::string, std::string> set = changes.set;

  // Deleting a suspended VM's state also ends the suspension.
  const bool deletes_vmstate = std::find(deletes.begin(), deletes.end(), "vmstate") != deletes.end();
  if (deletes_vmstate && config.main.get_or("lock", "") == "suspended") {
    for (const char* k : {"lock", "runningmachine", "runningcpu", "running-nets-host-mtu"}) {
      if (config.main.has(k) && std::find(deletes.begin(), deletes.end(), k) == deletes.end()) deletes.push_back(k);
    }
  }

  for (const auto& opt : changes.revert) {
    if (opt == "description" ? config.main.description.has_value() : config.main.has(opt)) {
      if (opt == "description") {
        set[opt] = *config.main.description;
      } else {
        set[opt] = *config.main.get(opt);
      }
    } else if (config.pending.has(opt) || (opt == "description" && config.pending.description)) {
      if (std::find(deletes.begin(), deletes.end(), opt) == deletes.end()) deletes.push_back(opt);
    }
  }

  if (set.count("memory") || set.count("balloon")) {
    std::string memory = set.count("memory") ? set["memory"] : config.pending.get_or("memory", config.main.get_or("memory", ""));
    double maxmem = current_memory(memory);
    std::optional<double> balloon;
    if (set.count("balloon")) {
      balloon = number_of(set["balloon"]);
    } else {
      balloon = number_of(config.pending.get("balloon"));
      if (!balloon || *balloon == 0) balloon = number_of(config.main.get("balloon"));
    }
    if (balloon && *balloon != 0 && *balloon > maxmem) {
      throw Error("balloon value too large (must be smaller than assigned memory)", 500);
    }
  }

  // The boot order the VM will have: a pending one counts (PVE looks at the main one only, which
  // would bring back devices an earlier pending change removed).
  std::vector<std::string> order = boot_order(config.pending.has("boot") ? config.pending : config.main);
  const bool boot_deleted = std::find(deletes.begin(), deletes.end(), "boot") != deletes.end();

  for (const auto& opt : deletes) {
    result.modified.insert(opt);
    std::optional<std::string> value;
    bool pending_value = false;
    if (opt == "description") {
      value = config.main.description ? config.main.description : config.pending.description;
      pending_value = config.pending.description.has_value();
    } else {
      value = config.main.has(opt) ? config.main.get(opt) : config.pending.get(opt);
      pending_value = config.pending.has(opt);
    }
    if (!value) {
      result.warnings.push_back("cannot delete '" + opt + "' - not set in current configuration!");
      result.modified.erase(opt);
      continue;
    }
    std::optional<std::string> pending_drive_value = config.pending.get(opt);
    if (opt == "description") {
      config.pending.description.reset();
    } else {
      config.pending.values.erase(opt);
    }

    if (!boot_deleted && std::find(order.begin(), order.end(), opt) != order.end()) {
      order.erase(std::remove(order.begin(), order.end(), opt), order.end());
      config.pending.values["boot"] = print_boot_order(order);
      result.modified.insert("boot");
    }

    if (is_unused_key(opt)) {
      Drive d;
      d.file = unused_volume(*value);
      check_protection(config, "can't remove unused disk '" + d.file + "'");
      if (!owned(d.file, vmid) || !is_storage_volume(d.file)) {
        config.main.values.erase(opt);
        continue;
      }
      if (volume_in_use(config, opt, d.file)) {
        throw Error("unable to delete '" + d.file + "' - volume is still in use (snapshot?)", 500);
      }
      result.volumes_to_free.push_back(d.file);
      config.main.values.erase(opt);
    } else if (opt == "vmstate") {
      check_protection(config, "can't remove vmstate '" + *value + "'");
      if (is_storage_volume(*value) && owned(*value, vmid)) result.volumes_to_free.push_back(*value);
      config.main.values.erase(opt);
    } else if (is_drive_key(opt)) {
      check_protection(config, "can't remove drive '" + opt + "'");
      if (pending_value && pending_drive_value) {
        if (auto d = try_parse_drive(opt, *pending_drive_value)) {
          register_unused_drive(config, *d, vmid, result.volumes_to_free);
        }
      }
      config.pending_delete[opt] = changes.force;
    } else if (opt == "tags") {
      config.main.values.erase(opt);
    } else {
      config.pending_delete[opt] = changes.force;
    }
  }

  for (const auto& [opt, value] : set) {
    result.modified.insert(opt);
    if (opt == "description") {
      if (config.pending.description && *config.pending.description == value) continue;
      config.pending.description = value;
      config.pending_delete.erase(opt);
      continue;
    }
    if (auto pv = config.pending.get(opt); pv && *pv == value) continue;

    if (is_drive_key(opt)) {
      if (auto old_pending = config.pending.get(opt)) {
        auto old_drive = try_parse_drive(opt, *old_pending);
        Drive new_drive = parse_drive(opt, value);
        if (old_drive && old_drive->file != new_drive.file) {
          register_unused_drive(config, *old_drive, vmid, result.volumes_to_free);
        }
      }
      config.pending.values[opt] = value;
      if (!order.empty()) {
        Drive d = parse_drive(opt, value);
        if (d.is_cdrom() && std::find(order.begin(), order.end(), opt) == order.end()) {
          order.push_back(opt);
          config.pending.values["boot"] = print_boot_order(order);
          result.modified.insert("boot");
        }
      }
    } else if (opt == "tags") {
      config.pending.values[opt] = unique_tags(value);
    } else if (opt == "cipassword") {
      config.main.values[opt] = value;
    } else if (opt == "boot") {
      config.pending.values[opt] = value;
      ConfigSection probe;
      probe.values["boot"] = value;
      std::vector<std::string> devs = boot_order(probe);
      if (!devs.empty()) {
        for (const auto& dev : devs) {
          bool exists = config.main.has(dev) || config.pending.has(dev) || set.count(dev);
          bool deleted = std::find(deletes.begin(), deletes.end(), dev) != deletes.end();
          if (!exists || deleted) throw Error("invalid bootorder: device '" + dev + "' does not exist'", 500);
        }
        config.pending.values[opt] = print_boot_order(devs);
        if (config.main.has("bootdisk")) config.pending_delete["bootdisk"] = false;
      }
    } else {
      config.pending.values[opt] = value;
    }
    config.pending_delete.erase(opt);
  }

  cleanup_pending(config);
  return result;
}

namespace {

// A pending description replaces the main one (an empty one removes it); true when there was one.
bool apply_pending_description(GuestConfig& config) {
  if (!config.pending.description) return false;
  if (config.pending.description->empty()) {
    config.main.description.reset();
  } else {
    config.main.description = config.pending.description;
  }
  config.pending.description.reset();
  return true;
}

}  // namespace

std::vector<std::string> apply_pending(GuestConfig& config, std::int64_t vmid, ApplyInfo* info) {
  std::vector<std::string> to_free;
  ApplyInfo local;
  ApplyInfo& out = info != nullptr ? *info : local;
  auto fail = [&](const std::string& opt, const std::string& msg) {
    out.errors[opt] = "unable to apply pending change " + opt + " : " + msg;
  };

  const std::map<std::string, bool> deletes = config.pending_delete;
  for (const auto& [opt, force] : deletes) {
    try {
      if (is_unused_key(opt)) throw Error("internal error", 500);
      if (config.main.has(opt) && is_drive_key(opt)) {
        Drive d = parse_drive(opt, *config.main.get(opt));
        if (force) {
          deallocate_drive(config, opt, d, vmid, to_free);
        } else {
          config.main.values.erase(opt);  // so the volume is no longer "named by a drive"
          register_unused_drive(config, d, vmid, to_free);
        }
      }
    } catch (const Error& e) {
      fail(opt, e.what());
      continue;
    }
    config.pending_delete.erase(opt);
    if (opt == "description") {
      config.main.description.reset();
    } else {
      config.main.values.erase(opt);
    }
  }

  cleanup_pending(config);

  apply_pending_description(config);

  const std::map<std::string, std::string> values = config.pending.values;
  for (const auto& [opt, value] : values) {
    std::optional<Drive> new_drive;
    try {
      if (is_drive_key(opt)) {
        new_drive = parse_drive(opt, value);
        if (auto old = config.main.get(opt)) {
          Drive old_drive = parse_drive(opt, *old);
          config.main.values.erase(opt);
          if (old_drive.file != new_drive->file) register_unused_drive(config, old_drive, vmid, to_free);
        }
      }
    } catch (const Error& e) {
      fail(opt, e.what());
      continue;
    }
    if (new_drive && new_drive->is_cloudinit()) out.cloudinit_changed = true;
    config.main.values[opt] = value;
    config.pending.values.erase(opt);
  }
  return to_free;
}

bool is_fast_plug(std::string_view key) {
  static const std::set<std::string, std::less<>> kFast = {
      "description", "hookscript", "lock",    "migrate_downtime", "migrate_speed", "name",
      "onboot",      "protection", "shares",  "startup",          "tags",          "vmstatestorage",
      "cicustom",    "cipassword", "citype",  "ciupgrade",        "ciuser",        "nameserver",
      "searchdomain", "sshkeys"};
  if (kFast.count(key)) return true;
  if (key.substr(0, 8) == "ipconfig" && key.size() > 8) {
    return std::all_of(key.begin() + 8, key.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  }
  return false;
}

std::vector<std::string> apply_fast_plug(GuestConfig& config) {
  std::vector<std::string> applied;
  if (apply_pending_description(config)) applied.push_back("description");
  for (auto it = config.pending.values.begin(); it != config.pending.values.end();) {
    if (!is_fast_plug(it->first)) {
      ++it;
      continue;
    }
    config.main.values[it->first] = it->second;
    applied.push_back(it->first);
    it = config.pending.values.erase(it);
  }
  // Deleting a fast-plug option needs no device change either (PVE's hotplug delete loop).
  for (auto it = config.pending_delete.begin(); it != config.pending_delete.end();) {
    if (!is_fast_plug(it->first)) {
      ++it;
      continue;
    }
    if (it->first == "description") {
      config.main.description.reset();
    } else {
      config.main.values.erase(it->first);
    }
    applied.push_back(it->first);
    it = config.pending_delete.erase(it);
  }
  std::sort(applied.begin(), applied.end());
  return applied;
}

std::set<std::string> hotplug_features(const ConfigSection& main) {
  std::string value = main.get_or("hotplug", "1");
  if (value == "0") return {};
  if (value == "1") value = "network,disk,usb";
  std::set<std::string> out;
  for (const auto& f : schema::split_list(value)) out.insert(f);
  return out;
}

bool is_hotpluggable(std::string_view key_view, const ConfigSection& main) {
  const std::string key(key_view);
  if (is_fast_plug(key)) return true;
  const auto features = hotplug_features(main);
  auto has = [&](const char* f) { return features.count(f) != 0; };
  auto numbered = [&](std::string_view prefix) {
    return key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 &&
           std::all_of(key.begin() + static_cast<std::ptrdiff_t>(prefix.size()), key.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  if (key == "balloon" || key == "cpulimit" || key == "cpuunits" || key == "agent") return true;
  if (key == "hotplug") {
    const std::string cur = main.get_or("hotplug", "");
    return cur.find("cpu") == std::string::npos && cur.find("memory") == std::string::npos;
  }
  if (is_net_key(key)) return has("network");
  if (is_drive_key(key)) return has("disk") && (numbered("scsi") || numbered("virtio"));
  if (key == "tablet" || numbered("usb")) return has("usb");
  if (key == "vcpus") return has("cpu");
  if (key == "memory") return has("memory");
  return false;
}

std::vector<std::string> boot_order(const ConfigSection& section) {
  auto boot = section.get("boot");
  const schema::Schema* keys = vm_key_format("boot");
  if (!boot || keys == nullptr) return {};
  try {
    Json b = schema::parse_property_string(*keys, *boot, "boot");
    if (!b.contains("order")) return {};
    return schema::split_list(schema::value_text(b["order"]));
  } catch (const Error&) {
    return {};
  }
}

Json config_json(const GuestConfig& config, bool current, const std::string& digest) {
  ConfigSection view = config.main;
  if (!current) {
    for (const auto& [k, v] : config.pending.values) view.values[k] = v;
    if (config.pending.description) view.description = config.pending.description;
    for (const auto& [k, force] : config.pending_delete) {
      if (k == "description") {
        view.description.reset();
        continue;
      }
      // PVE deletes only keys whose value is true in Perl's sense.
      auto v = view.get(k);
      if (v && !v->empty() && *v != "0") view.values.erase(k);
    }
  }
  return snapshot_config_json(view, digest);
}

Json snapshot_config_json(const ConfigSection& snapshot, const std::string& digest) {
  Json out = Json::object();
  for (const auto& [k, v] : snapshot.values) out[k] = vm_value_json(k, v);
  if (snapshot.description && !snapshot.description->empty()) out["description"] = *snapshot.description;
  if (out.contains("cipassword") && !schema::value_text(out["cipassword"]).empty()) out["cipassword"] = kMaskedPassword;
  out["digest"] = digest;
  return out;
}

Json pending_json(const GuestConfig& config, const std::string& digest) {
  std::map<std::string, Json> items;
  auto item = [&](const std::string& key) -> Json& {
    Json& j = items[key];
    if (j.is_null()) j = Json{{"key", key}};
    return j;
  };
  for (const auto& [k, v] : config.main.values) {
    item(k)["value"] = k == "cipassword" ? Json(kMaskedPassword) : vm_value_json(k, v);
  }
  if (config.main.description) item("description")["value"] = *config.main.description;
  item("digest")["value"] = digest;
  for (const auto& [k, v] : config.pending.values) {
    item(k)["pending"] = k == "cipassword" ? Json(std::string(kMaskedPassword) + " ") : vm_value_json(k, v);
  }
  if (config.pending.description) item("description")["pending"] = *config.pending.description;
  for (const auto& [k, force] : config.pending_delete) item(k)["delete"] = force ? 2 : 1;
  Json out = Json::array();
  for (auto& [k, j] : items) out.push_back(std::move(j));
  return out;
}

}  // namespace pvx::guest::qemu
