#pragma once
// Backup retention as PVE applies it (prune-backups: keep-last, keep-hourly, keep-daily,
// keep-weekly, keep-monthly, keep-yearly, keep-all). Pure: a list of backups in, each marked
// keep, remove or protected out. Used by the prunebackups API and, later, by vzdump.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pvx::storage {

struct PruneOptions {
  bool keep_all = false;
  std::map<std::string, std::int64_t> keep;  // "keep-last" -> N, ...
  bool empty() const { return !keep_all && keep.empty(); }
};

// "keep-daily=7,keep-last=3" (already validated by the schema).
PruneOptions parse_prune_options(const std::string& text);
// Throws Error 400 naming "prune-backups" when keep-all=1 is combined with other options.
void check_prune_options(const std::string& text);

struct PruneEntry {
  std::string volid;
  std::int64_t ctime = 0;
  std::string type;       // qemu, lxc
  std::int64_t vmid = 0;
  bool is_protected = false;
  std::string mark;       // filled in: keep, remove, protected
};

// Marks the entries of one backup group (same type and vmid). With no options everything is kept.
void prune_mark_group(std::vector<PruneEntry>& group, const PruneOptions& options);
// Groups by (type, vmid), then marks each group.
void prune_mark(std::vector<PruneEntry>& entries, const PruneOptions& options);

}  // namespace pvx::storage
