#pragma once
// The keys of storage.cfg in one table shared by every type (PVE's unified property namespace):
// a plugin lists which keys it takes (PluginInfo::options); the schema of each key lives here, so
// two types can never disagree about what `path` or `content` means. The section-config engine
// and the /storage create and update methods are derived from this table and the registry.
#include <string>
#include <vector>

#include "config/section_config.h"
#include "schema/schema.h"

namespace pvx::storage {

// Every storage.cfg key with its schema (all optional here; a type's options decide).
const std::vector<std::pair<std::string, schema::Schema>>& storage_properties();
const schema::Schema* storage_property(const std::string& name);

// The prune-backups property string (keep-all, keep-last, ...), shared with vzdump.
schema::Schema prune_backups_schema();

// storage.cfg's section types, one per registered plugin.
const config::SectionConfig& storage_section_config();

// Parameters of POST /storage (type, storage and every key, optional) and PUT /storage/{storage}
// (every non-fixed key, delete, digest), as PVE derives createSchema and updateSchema.
schema::Schema storage_create_parameters();
schema::Schema storage_update_parameters();

// The store file of a secret key, e.g. password -> "priv/storage/<id>.pw"; empty when `key` is
// not a secret.
std::string secret_file(const std::string& storage, const std::string& key);

}  // namespace pvx::storage
