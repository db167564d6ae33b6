#pragma once
// The declared keys of a guest config (VM or container), read once from a data file in PVE's
// apidoc shape (scripts/gen-vm-config-schema.py writes vm_config_keys.json and
// ct_config_keys.json from the reference API schema). "name[n]" keys are expanded to
// name0..name<N-1> by the file's `indexed` counts.
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schema/schema.h"

namespace pvx::guest {

class ConfigKeyCatalog {
 public:
  // `json`: {"keys": {...}, "indexed": {...}, "named_formats": {...}, "named_patterns": {...}}.
  explicit ConfigKeyCatalog(std::string_view json);

  // Every key, each optional, sorted by name: ready to append to a method's parameter list.
  const std::vector<std::pair<std::string, schema::Schema>>& params() const { return params_; }
  // nullptr for keys that are not declared (internal keys such as parent or snaptime).
  const schema::Schema* key_schema(std::string_view key) const;
  // The property-string keys of a key's format ("mp0" -> volume, mp, size, ...); nullptr if plain.
  const schema::Schema* key_format(std::string_view key) const;
  // All keys as one Object schema (every key optional), for schema::validate_params.
  const schema::Schema& object() const { return object_; }

  // Checks one value as an API write would; throws Error 400 naming `key` (PVE's message).
  void check_value(const std::string& key, const std::string& value) const;
  // A config value as GET /config returns it: integers and numbers as JSON numbers, booleans
  // as 1/0, everything else (property strings included) as the stored string. Undeclared keys
  // and values the declaration refuses come back as written; `snaptime` is an integer.
  schema::Json value_json(const std::string& key, const std::string& value) const;

 private:
  std::vector<std::pair<std::string, schema::Schema>> params_;
  std::map<std::string, schema::SchemaRef, std::less<>> by_key_;
  schema::Schema object_;
};

}  // namespace pvx::guest
