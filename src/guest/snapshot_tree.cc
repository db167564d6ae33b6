// Snapshot sections of guest configs (see snapshot_tree.h): PVE's __snapshot_copy_config,
// prepare/commit, apply on rollback and re-parenting on delete.
#include "guest/snapshot_tree.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "base/error.h"

namespace pvx::guest {
namespace {

bool is_unused(const std::string& key) {
  if (!key.starts_with("unused") || key.size() == 6) return false;
  return std::all_of(key.begin() + 6, key.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void check_new_snapshot_name(const std::string& name) {
  if (name == "current") throw Error("unable to use snapshot name 'current' (reserved name)", 400);
  if (lower(name) == "pending") throw Error("unable to use snapshot name 'pending' (reserved name)", 400);
}

bool is_template(const ConfigSection& section) {
  auto t = section.get("template");
  return t && (*t == "1" || *t == "on" || *t == "yes" || *t == "true");
}

ConfigSection snapshot_copy(const ConfigSection& main) {
  static const std::set<std::string> skipped = {"lock", "snaptime", "vmstate", "snapstate", "runningmachine",
                                                "runningcpu", "digest", "description"};
  ConfigSection copy;
  for (const auto& [key, value] : main.values) {
    if (skipped.count(key) || is_unused(key)) continue;
    copy.values[key] = value;
  }
  return copy;
}

ConfigSection& snapshot_prepare(GuestConfig& config, const std::string& name, std::int64_t snaptime,
                                const std::optional<std::string>& description) {
  if (config.snapshots.count(name)) throw Error("snapshot name '" + name + "' already used", 500);
  ConfigSection snap = snapshot_copy(config.main);
  snap.values["snapstate"] = "prepare";
  snap.values["snaptime"] = std::to_string(snaptime);
  if (description && !description->empty()) snap.description = *description;
  return config.snapshots[name] = std::move(snap);
}

void snapshot_commit(GuestConfig& config, const std::string& name) {
  auto it = config.snapshots.find(name);
  if (it == config.snapshots.end()) throw Error("snapshot '" + name + "' does not exist", 500);
  if (it->second.get_or("snapstate", "") != "prepare") throw Error("wrong snapshot state", 500);
  it->second.values.erase("snapstate");
  config.main.values["parent"] = name;
}

const ConfigSection& snapshot_or_throw(const GuestConfig& config, const std::string& name) {
  auto it = config.snapshots.find(name);
  if (it == config.snapshots.end()) throw Error("snapshot '" + name + "' does not exist", 500);
  return it->second;
}

void snapshot_apply(GuestConfig& config, const std::string& name, const SectionVolumes& volumes_of,
                    const std::vector<std::string>& keep) {
  const ConfigSection& snap = snapshot_or_throw(config, name);
  ConfigSection next = snapshot_copy(snap);
  next.description = config.main.description;
  for (const auto& [key, value] : config.main.values) {
    if (is_unused(key)) next.values[key] = value;
  }
  for (const auto& key : keep) {
    if (auto v = config.main.get(key)) next.values[key] = *v;
  }
  next.values["parent"] = name;
  // Disks added after the snapshot stay reachable as unused volumes.
  auto wanted = volumes_of(next);
  const std::set<std::string> in_snapshot(wanted.begin(), wanted.end());
  for (const auto& volid : volumes_of(config.main)) {
    if (!in_snapshot.count(volid)) add_unused_volume(next, volid);
  }
  config.main = std::move(next);
  config.pending = {};
  config.pending_delete.clear();
}

void snapshot_remove(GuestConfig& config, const std::string& name, const SectionVolumes& volumes_of) {
  auto it = config.snapshots.find(name);
  if (it == config.snapshots.end()) throw Error("snapshot '" + name + "' does not exist", 500);
  const std::optional<std::string> grandparent = it->second.get("parent");
  auto reparent = [&](ConfigSection& section) {
    if (section.get_or("parent", "") != name) return;
    if (grandparent) {
      section.values["parent"] = *grandparent;
    } else {
      section.values.erase("parent");
    }
  };
  for (auto& [other, section] : config.snapshots) {
    if (other != name) reparent(section);
  }
  reparent(config.main);
  const auto orphans = volumes_of(it->second);
  config.snapshots.erase(it);
  std::set<std::string> in_use;
  for (const auto& v : volumes_of(config.main)) in_use.insert(v);
  for (const auto& volid : orphans) {
    if (!in_use.count(volid)) add_unused_volume(config.main, volid);
  }
}

std::vector<std::string> snapshot_ancestry(const GuestConfig& config, const std::string& name) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  std::string cur = name;
  while (!cur.empty() && config.snapshots.count(cur) && seen.insert(cur).second) {
    out.push_back(cur);
    cur = config.snapshots.at(cur).get_or("parent", "");
  }
  return out;
}

}  // namespace pvx::guest
