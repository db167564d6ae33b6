#pragma once
// The declared keys of a VM config: every key of qemu-server's config with its type, range,
// default and property-string format, as the reference API schema declares them for
// POST /nodes/{node}/qemu/{vmid}/config. The create, set and config methods take their
// parameters from here, and the config reader types values with it.
#include <string>
#include <utility>
#include <vector>

#include "schema/schema.h"

namespace pvx::guest::qemu {

// Every settable VM config key (ide0..3, net0..31, ... expanded), each optional, as
// (name, Schema) pairs sorted by name, ready to append to a method's parameter list.
const std::vector<std::pair<std::string, schema::Schema>>& vm_config_params();
// The schema of one key (digits included: "scsi3"); nullptr for keys that are not settable
// (internal keys such as parent, snaptime, vmstate, runningmachine are not in here).
const schema::Schema* vm_key_schema(std::string_view key);
// The property-string keys of a key's format ("scsi0" -> the drive keys); nullptr if plain.
const schema::Schema* vm_key_format(std::string_view key);

// All keys of vm_config_params as one Object schema (every key optional), for validating a
// whole set of values at once with schema::validate_params.
const schema::Schema& vm_config_schema();

// Checks one value as an API write would; throws Error 400 naming `key` (PVE's message).
void check_vm_value(const std::string& key, const std::string& value);
// A config value as GET /config returns it: integers and numbers as JSON numbers, booleans as
// 1/0 integers, everything else (property strings included) as the stored string. Unknown
// and internal keys come back as strings, except `snaptime` (an integer in PVE's declaration).
schema::Json vm_value_json(const std::string& key, const std::string& value);

// Keys kept in the config but never set through the API (snapshots, runtime bookkeeping).
bool is_internal_vm_key(std::string_view key);

}  // namespace pvx::guest::qemu
