#include "guest/config_keys.h"

#include <cmath>
#include <string>

#include "base/error.h"
#include "guest/pve_schema_json.h"
#include "schema/validate.h"

namespace pvx::guest {

namespace {

using schema::Json;
using schema::Schema;
using schema::SchemaRef;

// Validates {key: value} and returns the converted value; throws Error 400 naming `key`.
Json validated(const std::string& key, const SchemaRef& s, const std::string& value) {
  Schema one;
  one.type = schema::Type::Object;
  one.properties.emplace_back(key, s);
  Json params = Json::object();
  params[key] = value;
  schema::validate_params(one, params);
  return params.contains(key) ? params[key] : Json(value);
}

}  // namespace

ConfigKeyCatalog::ConfigKeyCatalog(std::string_view json) {
  Json data = Json::parse(json);
  PveFormatCatalog catalog;
  for (const auto& [name, keys] : data.at("named_formats").items()) catalog.objects[name] = keys;
  for (const auto& [name, pattern] : data.at("named_patterns").items()) catalog.patterns[name] = pattern.get<std::string>();
  const Json& indexed = data.at("indexed");
  for (const auto& [name, pve] : data.at("keys").items()) {
    SchemaRef s = schema::ref(schema_from_pve_json(pve, catalog));
    const bool is_indexed = name.size() > 3 && name.compare(name.size() - 3, 3, "[n]") == 0;
    if (!is_indexed) {
      by_key_[name] = s;
      continue;
    }
    std::string base = name.substr(0, name.size() - 3);
    int count = indexed.at(base).get<int>();
    for (int i = 0; i < count; ++i) by_key_[base + std::to_string(i)] = s;
  }
  for (const auto& [name, s] : by_key_) params_.emplace_back(name, *s);
  object_.type = schema::Type::Object;
  for (const auto& [name, s] : by_key_) object_.properties.emplace_back(name, s);
}

const schema::Schema* ConfigKeyCatalog::key_schema(std::string_view key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : it->second.get();
}

const schema::Schema* ConfigKeyCatalog::key_format(std::string_view key) const {
  const Schema* s = key_schema(key);
  return s != nullptr ? s->format_object.get() : nullptr;
}

void ConfigKeyCatalog::check_value(const std::string& key, const std::string& value) const {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) {
    throw Error::param(key, "property is not defined in schema and the schema does not allow additional properties");
  }
  validated(key, it->second, value);
}

schema::Json ConfigKeyCatalog::value_json(const std::string& key, const std::string& value) const {
  if (key == "snaptime") {  // internal, but an integer in PVE's snapshot listings
    try {
      std::size_t used = 0;
      long long n = std::stoll(value, &used);
      if (used == value.size()) return n;
    } catch (const std::exception&) {
    }
    return value;
  }
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return value;
  const schema::Type type = it->second->type;
  if (type != schema::Type::Integer && type != schema::Type::Number && type != schema::Type::Boolean) return value;
  Json v;
  try {
    v = validated(key, it->second, value);
  } catch (const Error&) {
    return value;  // a bad value in the file is shown as it is written
  }
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_number_float()) {
    // Perl prints 2.0 as 2; keep whole numbers integral.
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  }
  return v;
}

}  // namespace pvx::guest
