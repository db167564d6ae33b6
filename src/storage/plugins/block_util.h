#pragma once
// Helpers shared by the block-device storage types (lvm, lvmthin, zfspool, iscsi, iscsidirect,
// rbd): disk naming, snapshot-name checks, the feature tables PVE keys by volume state, and the
// "raw+size" transfer stream over block devices.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/storage_plugin.h"

namespace pvx::storage::block {

// Output lines, trimmed, without empty ones.
std::vector<std::string> lines(std::string_view text);
// Splits on exactly `sep`, keeping empty fields ("a::b" -> a, "", b).
std::vector<std::string> fields(std::string_view line, char sep);
// Digits only, no sign; nullopt otherwise.
std::optional<std::int64_t> to_int(std::string_view text);

// First "<prefix>-<vmid>-disk-<n>" not taken by any existing name, where a name counts as taken
// for any of `prefixes` (vm and base share their numbers, as in PVE). Throws 500 when all are used.
std::string next_disk_name(const std::vector<std::string>& existing, std::int64_t vmid, std::string_view prefix,
                           std::initializer_list<std::string_view> prefixes);

// "vm-<vmid>-..." (or another prefix) owned by `vmid`; throws 400 naming `name` otherwise.
void check_owned_name(std::string_view name, std::string_view prefix, std::int64_t vmid);

// Snapshot names become tool arguments and LV/dataset suffixes: a letter, then letters, digits,
// '_' or '-' (at most 40), like PVE's snapshot names. Throws 400 naming "snapname".
void check_snapshot_name(std::string_view snap);

// PVE's feature tables: each feature lists the volume states it is available in.
enum class VolumeState { Current, Base, Snap };
VolumeState volume_state(const VolumeName& v, std::string_view snapshot);
struct FeatureRow {
  Feature feature;
  std::vector<VolumeState> states;
};
bool feature_in(const std::vector<FeatureRow>& table, Feature f, VolumeState state);

// "raw+size": an 8-byte little-endian size header, then the device's bytes. Export reads the
// device size with blockdev; import copies the rest of the stream (after read_size_header from
// stream_util.h) into an existing device that the caller sized from the header.
void export_raw_device(const std::string& device, int out_fd);
void copy_stream_to_device(int in_fd, const std::string& device);

// Whether a listing asked for `content` includes disk images (empty = everything).
bool lists_images(const ContentSet& content);
// A listing entry "<storage>:<name>" for a raw disk image.
VolumeInfo raw_image_entry(const StorageDef& def, const std::string& name, std::int64_t size, std::int64_t vmid,
                           std::int64_t ctime = 0);

// Types that move only a volume's current state, as "raw+size": throws 400 for any other format
// or for any snapshot option, naming `type`.
void check_raw_transfer(std::string_view type, const std::string& format, const TransferOptions& options);

// A property the type cannot work without; throws 400 naming `key` when it is empty.
std::string required(const StorageDef& def, const std::string& key);

// The host of `def`, required by plugins that keep local files (keyrings).
const HostEnv& host_of(const StorageDef& def);

}  // namespace pvx::storage::block
