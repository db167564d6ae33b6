#pragma once
// The interface every storage type implements (dir, btrfs, nfs, lvm, zfspool, rbd, ...), and the
// data the plugins work on. A plugin is stateless: everything it needs comes in the StorageDef
// (one storage.cfg section plus the host environment), so one instance serves every storage of
// its type from any thread. Slow calls (qemu-img, zfs, mount) block: callers run them on task or
// worker threads, never on the HTTP I/O threads.
//
// Shared behaviour lives in FileStorage (file-backed types) and free helpers, not in deep
// hierarchies. Capabilities are data (PluginInfo), so no code outside a plugin asks for its type.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "storage/content.h"

namespace pvx::storage {

using Json = nlohmann::json;

// Where plugins put host state: mounts, secrets, the node name.
struct HostEnv {
  std::string node;
  std::filesystem::path data_dir;
  std::filesystem::path mount_root = "/mnt/pve";  // nfs/cifs/cephfs/glusterfs mount here: <root>/<storage>
  std::chrono::seconds connect_timeout{10};       // reachability checks of network storage
};

// One storage as configured, with the host it is used on.
struct StorageDef {
  std::string id;
  std::string type;
  Json props = Json::object();               // storage.cfg keys, typed by the schema
  std::map<std::string, std::string> secrets;  // sensitive keys (password, keyring, ...) from priv/
  const HostEnv* host = nullptr;

  ContentSet content() const;
  bool shared() const;    // `shared` set, or the type is shared by nature
  bool disabled() const;
  std::string str(const std::string& key, const std::string& fallback = {}) const;
  std::int64_t integer(const std::string& key, std::int64_t fallback = 0) const;
  bool flag(const std::string& key, bool fallback = false) const;
  std::filesystem::path path() const { return str("path"); }
};

// What a plugin can do, as data.
struct PluginInfo {
  std::string type;
  ContentSet content;                 // content types this type can hold
  ContentSet default_content;         // used when `content` is not configured
  std::vector<std::string> formats;   // image formats ("raw", "qcow2", "vmdk", "subvol")
  std::string default_format;
  bool shared = false;                // storage is reachable from every node by nature (rbd, pbs, iscsi)
  bool select_existing = false;       // volumes cannot be allocated, only chosen (iscsi)
  bool file_based = false;            // holds files under a path (iso, templates, snippets)
  std::vector<std::string> sensitive;  // keys kept in priv/storage/<id>.<key>, never in storage.cfg

  // Keys this type accepts in storage.cfg, each optional, required or fixed (set at creation
  // only). The key schemas live in one table shared by all types (storage_properties.h).
  enum class Option { Optional, Required, Fixed, FixedRequired };
  std::vector<std::pair<std::string, Option>> options;
};

// A volume name parsed the way the type lays volumes out.
struct VolumeName {
  std::string vtype;           // content type: images, rootdir, iso, vztmpl, backup, snippets, import
  std::string name;            // file or volume name (vm-100-disk-0.qcow2, debian.iso, ...)
  std::int64_t vmid = 0;       // owner, 0 when none
  std::string base_name;       // linked clone: the base volume's name
  std::int64_t base_vmid = 0;
  bool is_base = false;        // a template's base volume (base-100-disk-0)
  std::string format;          // raw, qcow2, vmdk, subvol; iso, tgz, tar.zst, ... for files
};

// One entry of a content listing.
struct VolumeInfo {
  std::string volid;
  std::string content;         // the vtype
  std::string format;
  std::int64_t size = 0;
  std::optional<std::int64_t> used;
  std::int64_t ctime = 0;
  std::int64_t vmid = 0;       // 0 = none
  std::string parent;          // linked clone's base volid
  std::string notes;
  bool is_protected = false;
};

struct StorageStatus {
  std::int64_t total = 0, used = 0, avail = 0;
  bool active = false;
};

// Sizes of one volume (qemu-img info / zfs get / lvs).
struct VolumeSize {
  std::int64_t size = 0;       // virtual size, bytes
  std::int64_t used = 0;       // allocated bytes
  std::string format;
  std::string parent;          // backing volume name, if any
};

enum class Feature { Snapshot, Clone, Template, Copy, SparseInit, Rename };

// Export/import stream formats (PVE's names): "raw+size" (8-byte little-endian size, then
// raw data), "qcow2+size", "vmdk+size", "tar+size" (subvol), "btrfs", "zfs".
struct TransferOptions {
  std::string snapshot;        // export this snapshot ("" = current state)
  std::string base_snapshot;   // incremental from here, where the format allows it
  bool with_snapshots = false;
  bool allow_rename = false;   // import: take a free name if the given one exists
};

class StoragePlugin {
 public:
  virtual ~StoragePlugin() = default;

  // --- declaration
  virtual const PluginInfo& info() const = 0;

  // --- storage lifecycle
  // Checks and prepares a new storage (create its path, check the pool exists); may add
  // derived keys to `def.props`. Runs before the section is written.
  virtual void on_add(StorageDef& def) const;
  virtual void on_update(const StorageDef& before, StorageDef& after) const;
  virtual void on_delete(const StorageDef& def) const;
  // Mounts, logs in or creates directories as needed; throws when the storage is not reachable.
  virtual void activate(const StorageDef& def) const = 0;
  virtual void deactivate(const StorageDef& def) const;
  virtual StorageStatus status(const StorageDef& def) const = 0;

  // --- naming and paths
  // Throws Error 400 when `volname` is not a volume of this type's layout.
  virtual VolumeName parse_volname(const StorageDef& def, std::string_view volname) const = 0;
  // What QEMU or LXC opens: a file or device path, or a URI (rbd:, iscsi://).
  virtual std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot = {}) const = 0;
  // Directory holding files of a content type (iso, vztmpl, snippets, backup, import), for
  // file-based types; nullopt when the type holds no files of that kind.
  virtual std::optional<std::filesystem::path> content_dir(const StorageDef& def, std::string_view vtype) const;

  // --- images
  // Creates a disk of `size_kib` KiB; `name` empty = next free vm-<vmid>-disk-N. Returns the volname.
  virtual std::string alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                                  const std::string& name, std::int64_t size_kib) const = 0;
  virtual void free_image(const StorageDef& def, std::string_view volname) const = 0;
  // Turns a VM disk into a template base (read-only); returns the new volname.
  virtual std::string create_base(const StorageDef& def, std::string_view volname) const;
  // Linked clone of a base volume for `vmid`; returns the new volname.
  virtual std::string clone_image(const StorageDef& def, std::string_view base_volname, std::int64_t vmid,
                                  std::string_view snapshot = {}) const;
  // Full copy into a new volume of `vmid` (content copy API, move disk); returns the new volname.
  virtual std::string copy_image(const StorageDef& def, std::string_view volname, std::int64_t vmid,
                                 const std::string& target_name) const;

  // --- listing
  // content empty = every type; vmid 0 = every owner.
  virtual std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                               std::int64_t vmid) const = 0;

  // --- size and features
  virtual VolumeSize volume_size(const StorageDef& def, std::string_view volname) const = 0;
  virtual void volume_resize(const StorageDef& def, std::string_view volname, std::int64_t size_bytes) const;
  virtual bool has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                           std::string_view snapshot = {}) const;

  // --- snapshots
  virtual void snapshot_create(const StorageDef& def, std::string_view volname, std::string_view snap) const;
  virtual void snapshot_rollback(const StorageDef& def, std::string_view volname, std::string_view snap) const;
  virtual void snapshot_delete(const StorageDef& def, std::string_view volname, std::string_view snap) const;

  // --- volume activation (block devices appear, rbd maps)
  virtual void activate_volume(const StorageDef& def, std::string_view volname) const;
  virtual void deactivate_volume(const StorageDef& def, std::string_view volname) const;

  // --- transfer (migration, storage replication, backup restore)
  virtual std::vector<std::string> export_formats(const StorageDef& def, std::string_view volname) const;
  virtual void volume_export(const StorageDef& def, std::string_view volname, const std::string& format, int out_fd,
                             const TransferOptions& options) const;
  // Returns the volname created (may differ with allow_rename).
  virtual std::string volume_import(const StorageDef& def, std::string_view volname, const std::string& format,
                                    int in_fd, const TransferOptions& options) const;

  // --- notes and attributes (backups)
  virtual std::string get_notes(const StorageDef& def, std::string_view volname) const;
  virtual void set_notes(const StorageDef& def, std::string_view volname, const std::string& notes) const;
  virtual bool get_protected(const StorageDef& def, std::string_view volname) const;
  virtual void set_protected(const StorageDef& def, std::string_view volname, bool on) const;
};

// Error 400 "storage '<id>' does not support <what>": the default of optional operations.
[[noreturn]] void unsupported(const StorageDef& def, std::string_view what);

}  // namespace pvx::storage
