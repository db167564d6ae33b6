#pragma once
// Drive keys of a VM config (ide0..3, sata0..5, scsi0..30, virtio0..15, efidisk0, tpmstate0):
// parse and print the `[file=]<volume>,opt=...` property strings in PVE's key order.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schema/schema.h"

namespace pvx::guest::qemu {

struct Drive {
  std::string key;        // "scsi0"
  std::string interface;  // ide | sata | scsi | virtio | efidisk | tpmstate
  int index = 0;
  std::string file;       // volume id, "none", "cdrom", an absolute path, or "<storage>:<size>" on create
  // Every other key, typed as parse_property_string returns them ("size" stays the text "32G").
  schema::Json opts = schema::Json::object();

  bool is_cdrom() const;  // media=cdrom (file "cdrom"/"none" too)
  bool is_cloudinit() const;  // the file is "<storage>:cloudinit" or a vm-<id>-cloudinit volume
  std::string opt(const std::string& name, const std::string& fallback = {}) const;  // as text
  std::optional<std::uint64_t> size_bytes() const;  // from size=
  void set_size_bytes(std::uint64_t bytes);         // writes size= in PVE's unit
};

bool is_drive_key(std::string_view key);
// All drive keys in PVE's order of buses: ide0..3, sata0..5, scsi0..30, virtio0..15, efidisk0, tpmstate0.
const std::vector<std::string>& all_drive_keys();
// Throws Error 400 naming `key` when the value is not a drive of that key.
Drive parse_drive(std::string_view key, std::string_view value);
std::optional<Drive> try_parse_drive(std::string_view key, std::string_view value);
std::string print_drive(const Drive& drive);

// "<storage>:<size in GiB>" (a new disk) or "<storage>:0" (efidisk/tpmstate: default size).
// `import-from` stays in opts. nullopt when the file is not an allocation request.
struct NewDiskRequest {
  std::string storage;
  double size_gib = 0;
};
std::optional<NewDiskRequest> parse_new_disk(const Drive& drive);

}  // namespace pvx::guest::qemu
