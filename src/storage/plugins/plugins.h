#pragma once
// One factory per storage type; plugin_registry.cc lists them all.
#include <memory>

#include "storage/storage_plugin.h"

namespace pvx::storage::plugins {

std::unique_ptr<StoragePlugin> make_dir();
std::unique_ptr<StoragePlugin> make_btrfs();
std::unique_ptr<StoragePlugin> make_nfs();
std::unique_ptr<StoragePlugin> make_cifs();
std::unique_ptr<StoragePlugin> make_cephfs();
std::unique_ptr<StoragePlugin> make_glusterfs();
std::unique_ptr<StoragePlugin> make_lvm();
std::unique_ptr<StoragePlugin> make_lvmthin();
std::unique_ptr<StoragePlugin> make_zfspool();
std::unique_ptr<StoragePlugin> make_iscsi();
std::unique_ptr<StoragePlugin> make_iscsidirect();
std::unique_ptr<StoragePlugin> make_rbd();
std::unique_ptr<StoragePlugin> make_pbs();

}  // namespace pvx::storage::plugins
