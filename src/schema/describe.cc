#include "schema/describe.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include "schema/value_text.h"

namespace pvx::schema {
namespace {

Json number_json(double d) {
  // Perl prints 100, not 100.0: keep integral bounds integers in the JSON too.
  if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
  return d;
}

// Booleans are 0/1 in PVE's JSON.
Json pve_value(const Schema& s, const Json& v) {
  if (s.type == Type::Boolean && v.is_boolean()) return v.get<bool>() ? 1 : 0;
  return v;
}

std::map<std::string, std::string> key_alias_props(const Schema& keys) {
  std::map<std::string, std::string> out;
  for (const auto& [name, ks] : keys.properties) {
    if (!ks->key_alias.empty()) out[ks->key_alias] = ks->alias;
  }
  return out;
}

// The type text of a property string's keys: default key first ("[file=]<volume>"), then the
// required keys, then the optional ones in brackets, each group sorted; key aliases last.
std::string keys_type_text(const Schema& keys, bool list_enums) {
  std::string res;
  bool add_sep = false;
  auto add_option = [&](std::string text, bool optional) {
    if (add_sep) {
      text = "," + text;
      res += ' ';
    }
    res += optional ? "[" + text + "]" : text;
    add_sep = true;
  };
  auto value_text_of = [&](const Schema& ks) -> std::string {
    if (!ks.format_description.empty()) return "<" + ks.format_description + ">";
    if (!ks.typetext.empty()) return ks.typetext;
    if (!ks.enumeration.empty()) {
      if (!list_enums && ks.enumeration.size() > 3) return "<enum>";
      std::string t;
      for (const auto& e : ks.enumeration) t += (t.empty() ? "" : "|") + e;
      return "<" + t + ">";
    }
    switch (ks.type) {
      case Type::Boolean: return "<1|0>";
      case Type::Integer: return "<integer>";
      case Type::Number: return "<number>";
      default: return "<string>";  // PVE requires a format_description here; be lenient
    }
  };

  std::map<std::string, bool> done;
  auto cond_add = [&](const std::string& key) {
    if (done[key]) return;
    done[key] = true;
    const Schema* ks = keys.property(key);
    if (ks == nullptr || !ks->alias.empty()) return;
    const std::string vt = value_text_of(*ks);
    if (key == keys.default_key) {
      add_option("[" + key + "=]" + vt, ks->optional);
    } else {
      add_option(key + "=" + vt, ks->optional);
    }
  };

  if (!keys.default_key.empty()) cond_add(keys.default_key);
  for (const auto& [name, ks] : keys.properties) {
    if (!ks->optional) cond_add(name);
  }
  for (const auto& [name, ks] : keys.properties) cond_add(name);
  for (const auto& [key, value_key] : key_alias_props(keys)) add_option("<" + key + ">=<" + value_key + ">", true);
  return res;
}

Json format_object_json(const Schema& keys) {
  Json out = Json::object();
  for (const auto& [name, ks] : keys.properties) {
    Json k = to_pve_json(*ks);
    if (name == keys.default_key) k["default_key"] = 1;
    out[name] = std::move(k);
  }
  return out;
}

}  // namespace

std::string type_text(const Schema& s) {
  const std::string type = s.type == Type::Any ? "string" : type_name(s.type);
  if (!s.typetext.empty()) return s.typetext;
  if (!s.format_description.empty()) return "<" + s.format_description + ">";
  if (!s.enumeration.empty()) {
    std::vector<std::string> sorted = s.enumeration;
    std::sort(sorted.begin(), sorted.end());
    std::string t;
    for (const auto& e : sorted) t += (t.empty() ? "" : " | ") + e;
    return "<" + t + ">";
  }
  if (!s.pattern.empty()) return s.pattern;
  if (!s.alias.empty()) return "<alias to '" + s.alias + "'>";
  if (s.type == Type::Integer || s.type == Type::Number) {
    if (s.minimum && s.maximum) return "<" + type + "> (" + number_text(*s.minimum) + " - " + number_text(*s.maximum) + ")";
    if (s.minimum) return "<" + type + "> (" + number_text(*s.minimum) + " - N)";
    if (s.maximum) return "<" + type + "> (-N - " + number_text(*s.maximum) + ")";
  } else if (s.type == Type::String && s.format_object) {
    return keys_type_text(*s.format_object, false);
  }
  return "<" + type + ">";
}

std::string config_type_text(const Schema& s) {
  if (s.type == Type::String && s.format_object && s.typetext.empty() && s.format_description.empty() &&
      s.enumeration.empty() && s.pattern.empty()) {
    return keys_type_text(*s.format_object, true);
  }
  return type_text(s);
}

Json to_pve_json(const Schema& s) {
  Json j = Json::object();
  if (!s.alias.empty()) {
    // Alias keys carry nothing but the redirection.
    j["alias"] = s.alias;
    if (!s.key_alias.empty()) j["keyAlias"] = s.key_alias;
    return j;
  }
  j["type"] = type_name(s.type);
  if (!s.description.empty()) j["description"] = s.description;
  if (!s.verbose_description.empty()) j["verbose_description"] = s.verbose_description;
  if (s.optional) j["optional"] = 1;
  if (!s.default_value.is_null()) j["default"] = pve_value(s, s.default_value);
  if (s.minimum) j["minimum"] = number_json(*s.minimum);
  if (s.maximum) j["maximum"] = number_json(*s.maximum);
  if (s.min_length) j["minLength"] = *s.min_length;
  if (s.max_length) j["maxLength"] = *s.max_length;
  if (!s.pattern.empty()) j["pattern"] = s.pattern;
  if (!s.enumeration.empty()) j["enum"] = s.enumeration;
  if (s.format_object && s.format.empty()) {
    j["format"] = format_object_json(*s.format_object);
  } else if (!s.format.empty()) {
    j["format"] = s.format;
  }
  if (!s.format_description.empty()) j["format_description"] = s.format_description;
  if (!s.typetext.empty()) j["typetext"] = s.typetext;
  if (!s.requires_.empty()) j["requires"] = s.requires_;
  if (!s.title.empty()) j["title"] = s.title;
  if (!s.renderer.empty()) j["renderer"] = s.renderer;
  if (s.type == Type::Object) {
    if (!s.properties.empty()) {
      Json props = Json::object();
      for (const auto& [name, ps] : s.properties) props[name] = to_pve_json(*ps);
      j["properties"] = std::move(props);
    }
    if (s.additional_properties) j["additionalProperties"] = 1;
  }
  if (s.type == Type::Array && s.items) j["items"] = to_pve_json(*s.items);
  if (!s.child_link.empty()) j["links"] = Json::array({{{"href", s.child_link}, {"rel", "child"}}});
  return j;
}

Json to_pve_param_json(const Schema& s) {
  Json j = to_pve_json(s);
  // As PVE's API dump: derived type text for every parameter without enum or pattern.
  if (s.alias.empty() && s.enumeration.empty() && s.pattern.empty()) j["typetext"] = type_text(s);
  return j;
}

Json to_pve_parameters(const Schema& object_schema) {
  Json out = Json::object();
  // As PVE's api_clone_schema: indexed keys (net0, net1, ...) are listed once, as "net[n]".
  auto indexed = [&](const std::string& name) -> std::pair<std::string, std::string> {
    std::size_t digits = name.size();
    while (digits > 0 && std::isdigit(static_cast<unsigned char>(name[digits - 1]))) --digits;
    if (digits == name.size() || digits == 0 || name.size() - digits > 9) return {};
    for (std::size_t i = 0; i < digits; ++i) {
      if (name[i] < 'a' || name[i] > 'z') return {};
    }
    return {name.substr(0, digits), name.substr(digits)};
  };
  for (const auto& [name, ps] : object_schema.properties) {
    auto [base, index] = indexed(name);
    if (!base.empty() && std::stoull(index) == 0 && object_schema.property(base + "1") != nullptr) {
      out[base + "[n]"] = to_pve_param_json(*ps);
      continue;
    }
    if (!base.empty() && std::stoull(index) > 0 && object_schema.property(base + "0") != nullptr) continue;
    out[name] = to_pve_param_json(*ps);
  }
  return out;
}

Json to_json_schema(const Schema& s) {
  Json j = Json::object();
  if (!s.alias.empty()) {
    j["description"] = "Alias for '" + s.alias + "'.";
    return j;
  }
  switch (s.type) {
    case Type::Null: j["type"] = "null"; break;
    // PVE answers booleans as 0/1 and accepts both spellings.
    case Type::Boolean: j["type"] = Json::array({"boolean", "integer"}); break;
    case Type::Integer: j["type"] = "integer"; break;
    case Type::Number: j["type"] = "number"; break;
    case Type::String: j["type"] = "string"; break;
    case Type::Object: j["type"] = "object"; break;
    case Type::Array: j["type"] = "array"; break;
    case Type::Any: break;
  }
  if (!s.title.empty()) j["title"] = s.title;
  if (!s.description.empty()) j["description"] = s.description;
  if (!s.default_value.is_null()) j["default"] = s.default_value;
  if (s.minimum) j["minimum"] = number_json(*s.minimum);
  if (s.maximum) j["maximum"] = number_json(*s.maximum);
  if (s.min_length) j["minLength"] = *s.min_length;
  if (s.max_length) j["maxLength"] = *s.max_length;
  if (!s.pattern.empty()) j["pattern"] = "^(?:" + s.pattern + ")$";  // PVE anchors patterns; JSON Schema does not
  if (!s.enumeration.empty()) j["enum"] = s.enumeration;
  if (!s.format.empty()) {
    j["x-pve-format"] = s.format;
    static const std::map<std::string, std::string> kStandard = {
        {"email", "email"}, {"ipv4", "ipv4"}, {"ipv6", "ipv6"}, {"dns-name", "hostname"}};
    auto it = kStandard.find(s.format);
    if (it != kStandard.end()) j["format"] = it->second;
  }
  if (s.format_object) j["x-pve-typetext"] = type_text(s);
  if (s.type == Type::Object && !s.properties.empty()) {
    Json props = Json::object();
    Json required = Json::array();
    for (const auto& [name, ps] : s.properties) {
      props[name] = to_json_schema(*ps);
      if (!ps->optional && ps->alias.empty()) required.push_back(name);
    }
    j["properties"] = std::move(props);
    if (!required.empty()) j["required"] = std::move(required);
    j["additionalProperties"] = s.additional_properties;
  }
  if (s.type == Type::Array && s.items) j["items"] = to_json_schema(*s.items);
  return j;
}

}  // namespace pvx::schema
