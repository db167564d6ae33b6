#pragma once
// Shared implementation of file-backed storage types (dir, nfs, cifs, cephfs, glusterfs, and
// btrfs on top). PVE's layout under the storage path:
//
//   images/<vmid>/vm-<vmid>-disk-<n>.<raw|qcow2|vmdk>   VM disks ("<vmid>/vm-..." volnames)
//   images/<vmid>/base-<vmid>-disk-<n>.<fmt>            template bases
//   images/<vmid>/subvol-<vmid>-disk-<n>.subvol/        container volumes (directories)
//   template/iso/*.iso|*.img                            "iso/<name>"
//   template/cache/*.tar.{gz,xz,zst,bz2}                "vztmpl/<name>"
//   dump/vzdump-*                                       "backup/<name>"
//   snippets/*                                          "snippets/<name>"
//   import/*.{ova,ovf,qcow2,raw,vmdk}                   "import/<name>"
//
// Linked clones are "<basevmid>/base-<basevmid>-disk-<n>.<fmt>/<vmid>/vm-<vmid>-disk-<m>.<fmt>",
// a qcow2 file whose backing file is the base. Notes live in "<file>.notes", protection in
// "<file>.protected", as in PVE. `content-dirs` overrides the per-type directories.
//
// Subclasses override activate() (mount), status() and whatever their filesystem does natively
// (btrfs: subvolumes and snapshots).
#include "storage/storage_plugin.h"

namespace pvx::storage {

class FileStorage : public StoragePlugin {
 public:
  // Creates the path (unless `create-base-path` 0 / `mkdir` 0) and the content subdirectories
  // (unless `create-subdirs` 0); with `is_mountpoint`, refuses when nothing is mounted there.
  void activate(const StorageDef& def) const override;
  StorageStatus status(const StorageDef& def) const override;  // statvfs of the path

  VolumeName parse_volname(const StorageDef& def, std::string_view volname) const override;
  std::string path(const StorageDef& def, std::string_view volname, std::string_view snapshot = {}) const override;
  std::optional<std::filesystem::path> content_dir(const StorageDef& def, std::string_view vtype) const override;

  std::string alloc_image(const StorageDef& def, std::int64_t vmid, const std::string& format,
                          const std::string& name, std::int64_t size_kib) const override;
  void free_image(const StorageDef& def, std::string_view volname) const override;
  std::string create_base(const StorageDef& def, std::string_view volname) const override;
  std::string clone_image(const StorageDef& def, std::string_view base_volname, std::int64_t vmid,
                          std::string_view snapshot = {}) const override;
  std::string copy_image(const StorageDef& def, std::string_view volname, std::int64_t vmid,
                         const std::string& target_name) const override;

  std::vector<VolumeInfo> list_volumes(const StorageDef& def, const ContentSet& content,
                                       std::int64_t vmid) const override;
  VolumeSize volume_size(const StorageDef& def, std::string_view volname) const override;
  void volume_resize(const StorageDef& def, std::string_view volname, std::int64_t size_bytes) const override;
  bool has_feature(const StorageDef& def, Feature feature, std::string_view volname,
                   std::string_view snapshot = {}) const override;

  // qcow2 internal snapshots (qemu-img snapshot); other formats refuse.
  void snapshot_create(const StorageDef& def, std::string_view volname, std::string_view snap) const override;
  void snapshot_rollback(const StorageDef& def, std::string_view volname, std::string_view snap) const override;
  void snapshot_delete(const StorageDef& def, std::string_view volname, std::string_view snap) const override;

  std::vector<std::string> export_formats(const StorageDef& def, std::string_view volname) const override;
  void volume_export(const StorageDef& def, std::string_view volname, const std::string& format, int out_fd,
                     const TransferOptions& options) const override;
  std::string volume_import(const StorageDef& def, std::string_view volname, const std::string& format, int in_fd,
                            const TransferOptions& options) const override;

  std::string get_notes(const StorageDef& def, std::string_view volname) const override;
  void set_notes(const StorageDef& def, std::string_view volname, const std::string& notes) const override;
  bool get_protected(const StorageDef& def, std::string_view volname) const override;
  void set_protected(const StorageDef& def, std::string_view volname, bool on) const override;

 protected:
  // The directory for images of `vmid`: <path>/images/<vmid> (or its content-dirs override).
  std::filesystem::path image_dir(const StorageDef& def, std::int64_t vmid) const;
  // First free "vm-<vmid>-disk-<n>" (+ ".<fmt>" unless fmt is empty) among existing names.
  std::string find_free_diskname(const StorageDef& def, std::int64_t vmid, const std::string& format,
                                 bool add_suffix = true) const;
  // The absolute file of a volname, checked to stay inside the storage.
  std::filesystem::path file_of(const StorageDef& def, const VolumeName& v) const;
  // Checks content type and that the storage allows it; throws 400.
  void require_content(const StorageDef& def, std::string_view vtype) const;
};

// Options every file-backed type accepts (path-independent ones: content, nodes, shared, ...).
std::vector<std::pair<std::string, PluginInfo::Option>> file_storage_common_options();

// Strict name checks shared by all plugins: "vm-<vmid>-disk-<n>" style names and file names
// for iso/vztmpl/snippets/import (no slashes, no leading dot).
bool is_valid_image_name(std::string_view name, std::int64_t vmid);
bool is_valid_file_name(std::string_view name);

}  // namespace pvx::storage
