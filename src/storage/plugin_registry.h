#pragma once
// Storage plugins keyed by type name, filled in one explicit list (plugin_registry.cc).
#include <string_view>
#include <vector>

#include "storage/storage_plugin.h"

namespace pvx::storage {

// nullptr when no plugin has this type.
const StoragePlugin* find_plugin(std::string_view type);
// Throws Error 400 "unknown storage type '<type>'".
const StoragePlugin& plugin_for(std::string_view type);
// Every plugin, in type-name order.
const std::vector<const StoragePlugin*>& all_plugins();

}  // namespace pvx::storage
