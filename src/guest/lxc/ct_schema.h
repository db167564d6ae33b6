#pragma once
// The declared keys of a container config: every key of pve-container's config with its type,
// range, default and property-string format, as the reference API schema declares them for
// PUT /nodes/{node}/lxc/{vmid}/config (scripts/gen-vm-config-schema.py writes the embedded
// ct_config_keys.json). Raw `lxc.*` keys are not settable through the API, as in PVE.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schema/schema.h"

namespace pvx::guest::lxc {

// Every settable key (mp0..255, net0..31, dev0..255, unused0..255 expanded), each optional,
// sorted by name.
const std::vector<std::pair<std::string, schema::Schema>>& ct_config_params();
const schema::Schema* ct_key_schema(std::string_view key);   // nullptr when not declared
const schema::Schema* ct_key_format(std::string_view key);   // property-string keys, or nullptr
const schema::Schema& ct_config_schema();
// Throws Error 400 naming `key` (PVE's message).
void check_ct_value(const std::string& key, const std::string& value);
schema::Json ct_value_json(const std::string& key, const std::string& value);
// Kept in the config, never set through the API (snapshots and bookkeeping).
bool is_internal_ct_key(std::string_view key);

}  // namespace pvx::guest::lxc
