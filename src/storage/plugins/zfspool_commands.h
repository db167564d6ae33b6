#pragma once
// zfs tool invocations and output parsing for the zfspool type, as pure functions (tests check
// argv and parsing; this host has no ZFS). Listings use -H (tabs, no header) and -p (exact bytes).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::storage::zfs {

// One child of the pool: a zvol (vm-/base-) or a dataset (subvol-/basevol-).
struct Child {
  std::string name;      // without the pool
  std::int64_t size = 0;  // volsize, or refquota for datasets (0 = none)
  std::string origin;    // clone origin relative to the pool ("base-100-disk-0@__base__"), or ""
  std::string format;    // "raw" or "subvol"
  std::int64_t vmid = 0;
};

// `zfs list -o name,volsize,origin,type,refquota -t volume,filesystem -d1 -Hp <pool>`
std::vector<std::string> list_children_argv(const std::string& pool);
std::vector<Child> parse_children(std::string_view output, std::string_view pool);

// Sizes are KiB; zvols are padded to whole MiB as PVE does.
std::int64_t zvol_size_kib(std::int64_t size_kib);
std::vector<std::string> create_zvol_argv(const std::string& pool, const std::string& name, std::int64_t size_kib,
                                          bool sparse, const std::string& blocksize);
std::vector<std::string> create_subvol_argv(const std::string& pool, const std::string& name, std::int64_t size_kib);
std::vector<std::string> destroy_argv(const std::string& dataset, bool recursive);
std::vector<std::string> snapshot_argv(const std::string& dataset, const std::string& snap);
std::vector<std::string> rollback_argv(const std::string& dataset, const std::string& snap);
std::vector<std::string> clone_argv(const std::string& origin_snapshot, const std::string& target,
                                    const std::string& refquota);
std::vector<std::string> rename_argv(const std::string& from, const std::string& to);
// `zfs get -o value -Hp <props> <dataset>`: one value per line, in the order asked.
std::vector<std::string> get_argv(const std::string& props, const std::string& dataset);
std::vector<std::string> set_argv(const std::string& assignment, const std::string& dataset);
// Snapshot names of a dataset, oldest first.
std::vector<std::string> snapshots_argv(const std::string& dataset);
std::vector<std::string> parse_snapshot_names(std::string_view output);

// Replication streams ("zfs" format): send with properties and, for -I, all intermediate snapshots.
std::vector<std::string> send_argv(const std::string& dataset, const std::string& snap,
                                   const std::string& base_snap, bool with_snapshots);
std::vector<std::string> recv_argv(const std::string& dataset);

// Pool stats: `zfs get -o value -Hp available,used <pool>`.
struct PoolStats {
  std::int64_t avail = 0, used = 0;
};
PoolStats parse_pool_stats(std::string_view output);

}  // namespace pvx::storage::zfs
