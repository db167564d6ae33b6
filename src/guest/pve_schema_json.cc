// PVE apidoc JSON -> schema::Schema (see pve_schema_json.h).
#include "guest/pve_schema_json.h"

#include <stdexcept>

#include "schema/formats.h"

namespace pvx::guest {
namespace {

using schema::Json;
using schema::Schema;
using schema::Type;

Type type_of(const std::string& name) {
  static const std::map<std::string, Type, std::less<>> kTypes = {
      {"boolean", Type::Boolean}, {"integer", Type::Integer}, {"number", Type::Number},
      {"string", Type::String},   {"object", Type::Object},   {"array", Type::Array},
      {"null", Type::Null},       {"any", Type::Any}};
  auto it = kTypes.find(name);
  if (it == kTypes.end()) throw std::invalid_argument("unknown schema type '" + name + "'");
  return it->second;
}

bool flag(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return false;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_number()) return it->get<double>() != 0;
  return it->is_string() && !it->get<std::string>().empty() && it->get<std::string>() != "0";
}

std::string text(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The keys of a property-string format, with the default key taken from the key flagged with it.
schema::SchemaRef keys_from_pve_json(const Json& keys, const PveFormatCatalog& catalog) {
  std::vector<std::pair<std::string, Schema>> props;
  std::string default_key;
  for (auto it = keys.begin(); it != keys.end(); ++it) {
    if (flag(it.value(), "default_key")) default_key = it.key();
    props.emplace_back(it.key(), schema_from_pve_json(it.value(), catalog));
  }
  Schema fmt = schema::object(std::move(props));
  fmt.default_key = std::move(default_key);
  return schema::ref(std::move(fmt));
}

}  // namespace

std::string pattern_from_perl(std::string_view perl) {
  std::string out;
  out.reserve(perl.size());
  for (std::size_t i = 0; i < perl.size(); ++i) {
    if (perl.compare(i, 4, "(?^:") == 0) {
      out += "(?:";
      i += 3;
    } else if (perl.compare(i, 2, "{,") == 0 && (i == 0 || perl[i - 1] != '\\')) {
      out += "{0,";
      i += 1;
    } else {
      out += perl[i];
    }
  }
  return out;
}

Schema schema_from_pve_json(const Json& pve, const PveFormatCatalog& catalog) {
  if (!pve.is_object()) throw std::invalid_argument("schema is not an object");
  // Aliases carry no type: "volume": {"alias": "file"}, "virtio": {"alias": "macaddr", "keyAlias": "model"}.
  if (pve.contains("alias")) {
    std::string target = text(pve, "alias");
    return pve.contains("keyAlias") ? schema::key_alias_of(text(pve, "keyAlias"), target) : schema::alias_of(target);
  }
  Schema s;
  s.type = pve.contains("type") ? type_of(text(pve, "type")) : Type::Any;
  s.optional = flag(pve, "optional");
  s.description = text(pve, "description");
  s.verbose_description = text(pve, "verbose_description");
  s.format_description = text(pve, "format_description");
  s.typetext = text(pve, "typetext");
  s.requires_ = text(pve, "requires");
  s.title = text(pve, "title");
  s.renderer = text(pve, "renderer");
  if (auto it = pve.find("default"); it != pve.end()) s.default_value = *it;
  if (auto it = pve.find("minimum"); it != pve.end() && it->is_number()) s.minimum = it->get<double>();
  if (auto it = pve.find("maximum"); it != pve.end() && it->is_number()) s.maximum = it->get<double>();
  if (auto it = pve.find("minLength"); it != pve.end() && it->is_number()) s.min_length = it->get<std::size_t>();
  if (auto it = pve.find("maxLength"); it != pve.end() && it->is_number()) s.max_length = it->get<std::size_t>();
  if (pve.contains("pattern")) s.pattern = pattern_from_perl(text(pve, "pattern"));
  if (auto it = pve.find("enum"); it != pve.end() && it->is_array()) {
    for (const auto& e : *it) s.enumeration.push_back(e.is_string() ? e.get<std::string>() : e.dump());
  }

  if (auto it = pve.find("format"); it != pve.end()) {
    if (it->is_object()) {
      s.format_object = keys_from_pve_json(*it, catalog);
    } else if (it->is_string()) {
      const std::string name = it->get<std::string>();
      if (schema::format_known(name)) {
        s.format = name;
      } else if (auto obj = catalog.objects.find(name); obj != catalog.objects.end()) {
        s.format = name;  // the dump shows the name; validation parses the keys
        s.format_object = keys_from_pve_json(obj->second, catalog);
      } else if (auto pat = catalog.patterns.find(name); pat != catalog.patterns.end()) {
        if (s.pattern.empty()) s.pattern = pat->second;
      }
    }
  }
  if (auto it = pve.find("items"); it != pve.end() && it->is_object()) {
    s.items = schema::ref(schema_from_pve_json(*it, catalog));
  }
  if (auto it = pve.find("properties"); it != pve.end() && it->is_object()) {
    std::vector<std::pair<std::string, Schema>> props;
    for (auto p = it->begin(); p != it->end(); ++p) props.emplace_back(p.key(), schema_from_pve_json(p.value(), catalog));
    Schema obj = schema::object(std::move(props));
    s.properties = std::move(obj.properties);
  }
  s.additional_properties = flag(pve, "additionalProperties");
  return s;
}

}  // namespace pvx::guest
