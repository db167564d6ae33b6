#pragma once
// The snapshot sections of a guest config, kept as PVE's AbstractConfig keeps them: each
// `[name]` section is a copy of the main section at the time (its `parent:` names the snapshot
// it was taken on top of), and the main section's `parent:` names the snapshot the current
// state grew from. Pure functions over GuestConfig: the VM and container code around them
// does the storage and process work, and holds the locks.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "guest/guest_config.h"

namespace pvx::guest {

// Throws Error 400 for names PVE reserves: "current", "pending" (any case).
void check_new_snapshot_name(const std::string& name);

// `template: 1`.
bool is_template(const ConfigSection& section);

// What a snapshot keeps of a section: every key except the lock, the snapshot bookkeeping
// (snaptime, vmstate, snapstate, runningmachine, runningcpu), unusedN entries and the description.
ConfigSection snapshot_copy(const ConfigSection& main);

// Adds `[name]` in state "prepare" (snapstate: prepare, snaptime, description). Throws
// Error 500 "snapshot name '<name>' already used".
ConfigSection& snapshot_prepare(GuestConfig& config, const std::string& name, std::int64_t snaptime,
                                const std::optional<std::string>& description);
// Finishes a prepared snapshot: drops snapstate and makes it the current state's parent.
void snapshot_commit(GuestConfig& config, const std::string& name);

// Throws Error 500 "snapshot '<name>' does not exist".
const ConfigSection& snapshot_or_throw(const GuestConfig& config, const std::string& name);

// The volume ids a section's disks use (the guest type knows its disk keys).
using SectionVolumes = std::function<std::vector<std::string>(const ConfigSection&)>;

// Rollback: the main section becomes the snapshot's copy, keeping the current description and
// unusedN entries, with `parent: <name>`; volumes the current state used and the snapshot does
// not become unusedN. Pending changes are dropped. `keep` keys of the old main survive too
// (the lock the rollback holds).
void snapshot_apply(GuestConfig& config, const std::string& name, const SectionVolumes& volumes_of,
                    const std::vector<std::string>& keep = {"lock"});

// Removes `[name]`: children (and the main section) that named it as parent take its parent
// (or lose `parent:` when it had none). Volumes only the snapshot used become unusedN.
void snapshot_remove(GuestConfig& config, const std::string& name, const SectionVolumes& volumes_of);

// Snapshot names from `name` up to the root, following `parent:` (cycles stop the walk).
std::vector<std::string> snapshot_ancestry(const GuestConfig& config, const std::string& name);

}  // namespace pvx::guest
