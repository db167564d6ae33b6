#include "storage/plugins/zfspool_commands.h"

#include <regex>

#include "storage/plugins/block_util.h"

namespace pvx::storage::zfs {

std::vector<std::string> list_children_argv(const std::string& pool) {
  return {"zfs", "list", "-o", "name,volsize,origin,type,refquota", "-t", "volume,filesystem", "-d1", "-Hp", pool};
}

std::vector<Child> parse_children(std::string_view output, std::string_view pool) {
  static const std::regex kName(R"((vm|base|subvol|basevol)-(\d+)-\S+)");
  std::vector<Child> out;
  std::string prefix = std::string(pool) + "/";
  for (const auto& line : block::lines(output)) {
    auto f = block::fields(line, '\t');
    if (f.size() < 5) continue;
    const auto& dataset = f[0];
    const auto& type = f[3];
    if (type != "volume" && type != "filesystem") continue;
    // Direct children only: "<pool>/<name>" where pool itself may contain slashes.
    if (!dataset.starts_with(prefix)) continue;
    auto name = dataset.substr(prefix.size());
    if (name.find('/') != std::string::npos) continue;
    std::smatch m;
    if (!std::regex_match(name, m, kName)) continue;
    Child c;
    c.name = name;
    c.vmid = std::stoll(m[2].str());
    if (type == "filesystem") {
      c.format = "subvol";
      c.size = block::to_int(f[4]).value_or(0);  // "none" or "0" = no quota
    } else {
      c.format = "raw";
      c.size = block::to_int(f[1]).value_or(0);
    }
    if (f[2] != "-") c.origin = f[2].starts_with(prefix) ? f[2].substr(prefix.size()) : f[2];
    out.push_back(std::move(c));
  }
  return out;
}

std::int64_t zvol_size_kib(std::int64_t size_kib) { return size_kib + (1024 - size_kib % 1024) % 1024; }

std::vector<std::string> create_zvol_argv(const std::string& pool, const std::string& name, std::int64_t size_kib,
                                          bool sparse, const std::string& blocksize) {
  std::vector<std::string> argv = {"zfs", "create"};
  if (sparse) argv.push_back("-s");
  if (!blocksize.empty()) argv.insert(argv.end(), {"-b", blocksize});
  argv.insert(argv.end(), {"-V", std::to_string(zvol_size_kib(size_kib)) + "k", pool + "/" + name});
  return argv;
}

std::vector<std::string> create_subvol_argv(const std::string& pool, const std::string& name, std::int64_t size_kib) {
  std::string quota = size_kib > 0 ? std::to_string(size_kib) + "k" : "none";
  return {"zfs", "create", "-o", "acltype=posixacl", "-o", "xattr=sa", "-o", "refquota=" + quota, pool + "/" + name};
}

std::vector<std::string> destroy_argv(const std::string& dataset, bool recursive) {
  if (recursive) return {"zfs", "destroy", "-r", dataset};
  return {"zfs", "destroy", dataset};
}

std::vector<std::string> snapshot_argv(const std::string& dataset, const std::string& snap) {
  return {"zfs", "snapshot", dataset + "@" + snap};
}

std::vector<std::string> rollback_argv(const std::string& dataset, const std::string& snap) {
  return {"zfs", "rollback", dataset + "@" + snap};
}

std::vector<std::string> clone_argv(const std::string& origin_snapshot, const std::string& target,
                                    const std::string& refquota) {
  std::vector<std::string> argv = {"zfs", "clone", origin_snapshot, target};
  if (!refquota.empty()) argv.insert(argv.end(), {"-o", "refquota=" + refquota});
  return argv;
}

std::vector<std::string> rename_argv(const std::string& from, const std::string& to) {
  return {"zfs", "rename", from, to};
}

std::vector<std::string> get_argv(const std::string& props, const std::string& dataset) {
  return {"zfs", "get", "-o", "value", "-Hp", props, dataset};
}

std::vector<std::string> set_argv(const std::string& assignment, const std::string& dataset) {
  return {"zfs", "set", assignment, dataset};
}

std::vector<std::string> snapshots_argv(const std::string& dataset) {
  return {"zfs", "list", "-H", "-r", "-d1", "-t", "snapshot", "-o", "name", "-s", "creation", dataset};
}

std::vector<std::string> parse_snapshot_names(std::string_view output) {
  std::vector<std::string> out;
  for (const auto& line : block::lines(output)) {
    auto at = line.find('@');
    if (at != std::string::npos) out.push_back(line.substr(at + 1));
  }
  return out;
}

std::vector<std::string> send_argv(const std::string& dataset, const std::string& snap,
                                   const std::string& base_snap, bool with_snapshots) {
  std::vector<std::string> argv = {"zfs", "send", "-Rpv"};
  if (!base_snap.empty()) argv.insert(argv.end(), {with_snapshots ? "-I" : "-i", base_snap});
  argv.insert(argv.end(), {"--", dataset + "@" + snap});
  return argv;
}

std::vector<std::string> recv_argv(const std::string& dataset) {
  return {"zfs", "recv", "-F", "-x", "encryption", "--", dataset};
}

PoolStats parse_pool_stats(std::string_view output) {
  PoolStats st;
  auto l = block::lines(output);
  if (l.size() > 0) st.avail = block::to_int(l[0]).value_or(0);
  if (l.size() > 1) st.used = block::to_int(l[1]).value_or(0);
  return st;
}

}  // namespace pvx::storage::zfs
