#pragma once
// Schemas written in PVE's apidoc JSON shape ({"type": "string", "optional": 1, "format": {...},
// "default_key": 1, "alias": "file", "keyAlias": "model", "pattern": "(?^:...)", ...}) turned into
// schema::Schema declarations. The guest key catalogs (config_keys.h) read the VM and container
// config keys this way from the data files scripts/gen-vm-config-schema.py writes.
#include <map>
#include <string>
#include <string_view>

#include "schema/schema.h"

namespace pvx::guest {

// What a bare format name means when the schema module has no check of that name: the keys of a
// property-string format (PVE shape, an object of keys) or a pattern that replaces the check.
// Names neither known to schema/formats nor listed here are dropped (the value is then only
// type-checked), so a data file can never make validation throw std::logic_error.
struct PveFormatCatalog {
  std::map<std::string, schema::Json, std::less<>> objects;
  std::map<std::string, std::string, std::less<>> patterns;
};

// Throws std::invalid_argument on a shape it cannot read (an unknown type name).
schema::Schema schema_from_pve_json(const schema::Json& pve, const PveFormatCatalog& catalog = {});

// A Perl regex from PVE's dump as an ECMAScript one: "(?^:x)" groups become "(?:x)" and "{,n}"
// becomes "{0,n}".
std::string pattern_from_perl(std::string_view perl);

}  // namespace pvx::guest
