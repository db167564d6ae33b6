#include "config/section_config.h"

#include <algorithm>
#include <regex>
#include <stdexcept>

#include "base/error.h"
#include "config/value_codec.h"
#include "schema/formats.h"

namespace pvx::config {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool is_comment(std::string_view line) {
  auto pos = line.find_first_not_of(" \t\r\f\v");
  return pos != std::string_view::npos && line[pos] == '#';
}

// "<type>: <id>" with nothing else on the line (PVE's header regex ^(\S+):\s*(\S+)\s*$).
bool parse_header(std::string_view line, std::string& type, std::string& id) {
  static const std::regex kHeader(R"(^(\S+):\s*(\S+)\s*$)");
  std::cmatch m;
  // std::regex needs stack in proportion to the input; a header line is never this long.
  if (line.size() > 4096) return false;
  if (!std::regex_match(line.data(), line.data() + line.size(), m, kHeader)) return false;
  type = m[1].str();
  id = m[2].str();
  return true;
}

// An indented "key [value]" line; the value runs to the last non-blank character.
bool parse_property(std::string_view line, std::string& key, std::optional<std::string>& value) {
  if (line.empty() || !is_space(line.front())) return false;
  std::size_t k = line.find_first_not_of(" \t\r\f\v");
  if (k == std::string_view::npos) return false;
  std::size_t k_end = k;
  while (k_end < line.size() && !is_space(line[k_end])) ++k_end;
  key = std::string(line.substr(k, k_end - k));
  std::size_t v = line.find_first_not_of(" \t\r\f\v", k_end);
  if (v == std::string_view::npos) {
    value.reset();
    return true;
  }
  std::size_t v_end = line.find_last_not_of(" \t\r\f\v");
  value = std::string(line.substr(v, v_end - v + 1));
  return true;
}

// Keys in PVE's write order after the fixed leaders: required keys sorted, then optional sorted.
std::vector<const schema::Property*> write_order(const schema::Schema& keys) {
  std::vector<const schema::Property*> props;
  for (const auto& p : keys.properties) props.push_back(&p);
  std::stable_sort(props.begin(), props.end(), [](const auto* a, const auto* b) {
    if (a->second->optional != b->second->optional) return !a->second->optional;
    return a->first < b->first;
  });
  return props;
}

}  // namespace

const Section* ParsedConfig::find(std::string_view id) const {
  for (const auto& s : sections) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

Section* ParsedConfig::find(std::string_view id) {
  for (auto& s : sections) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

SectionConfig::SectionConfig(std::vector<SectionType> types) : types_(std::move(types)) {
  for (std::size_t i = 0; i < types_.size(); ++i) {
    const auto& t = types_[i];
    if (!t.keys || t.keys->type != schema::Type::Object) {
      throw std::logic_error("section type '" + t.type + "' needs an Object schema of its keys");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (types_[j].type == t.type) throw std::logic_error("section type '" + t.type + "' declared twice");
    }
  }
}

const SectionType* SectionConfig::type(std::string_view name) const {
  for (const auto& t : types_) {
    if (t.type == name) return &t;
  }
  return nullptr;
}

ParsedConfig SectionConfig::parse(std::string_view text, std::string_view filename) const {
  ParsedConfig out;
  std::vector<std::string_view> lines;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  std::string file = filename.empty() ? std::string("<config>") : std::string(filename);
  auto where = [&](std::size_t idx) { return "file " + file + " line " + std::to_string(idx + 1); };
  auto warn = [&](std::string msg) { out.warnings.push_back(std::move(msg)); };

  std::size_t i = 0;
  // Next line that is not a comment; comments never end a section.
  auto next = [&]() -> std::optional<std::size_t> {
    while (i < lines.size()) {
      std::size_t idx = i++;
      if (!is_comment(lines[idx])) return idx;
    }
    return std::nullopt;
  };

  while (auto idx = next()) {
    std::string_view line = lines[*idx];
    if (line.empty()) continue;
    std::string type_name, id;
    if (!parse_header(line, type_name, id)) {
      warn(where(*idx) + " - ignore config line: " + std::string(line));
      continue;
    }
    const SectionType* type = this->type(type_name);
    std::string skip_reason;
    if (!type) {
      skip_reason = "unsupported type '" + type_name + "'";
    } else if (!type->id_format.empty()) {
      if (auto err = schema::check_format(type->id_format, id)) skip_reason = *err;
    }
    if (!skip_reason.empty()) warn(where(*idx) + " (skip section '" + id + "'): " + skip_reason);

    Section section{type_name, id, schema::Json::object()};
    std::size_t last = *idx;
    while (auto pidx = next()) {
      std::string_view pline = lines[*pidx];
      if (pline.empty()) break;  // only a truly empty line ends a section
      last = *pidx;
      if (!skip_reason.empty()) continue;
      std::string key;
      std::optional<std::string> value;
      if (!parse_property(pline, key, value)) {
        warn(where(*pidx) + " (section '" + id + "') - ignore config line: " + std::string(pline));
        continue;
      }
      auto fail = [&](const std::string& err) {
        warn(where(*pidx) + " (section '" + id + "') - unable to parse value of '" + key + "': " + err);
      };
      const schema::Schema* prop = type->keys->property(key);
      if (!prop) {
        fail("unexpected property '" + key + "'");
        continue;
      }
      bool is_array = prop->type == schema::Type::Array;
      const schema::Schema& item = is_array && prop->items ? *prop->items : *prop;
      if (!is_array && section.values.contains(key)) {
        fail("duplicate attribute");
        continue;
      }
      std::string text_value;
      if (value) {
        text_value = *value;
      } else if (item.type == schema::Type::Boolean) {
        text_value = "1";  // a bare boolean key means "set"
      } else {
        fail("got undefined value");
        continue;
      }
      schema::Json typed;
      if (auto err = parse_value(item, text_value, typed)) {
        fail(*err);
        continue;
      }
      if (is_array) {
        section.values[key].push_back(std::move(typed));
      } else {
        section.values[key] = std::move(typed);
      }
    }
    if (!skip_reason.empty()) continue;

    // What PVE's check_config(create) refuses drops the whole section.
    std::string missing;
    for (const auto& [k, s] : type->keys->properties) {
      if (!s->optional && !section.values.contains(k)) {
        missing = k;
        break;
      }
    }
    if (!missing.empty()) {
      warn(where(last) + " (skip section '" + id + "'): missing value for required option '" + missing + "'");
      continue;
    }
    if (out.find(id)) {
      warn(where(*idx) + " (skip section '" + id + "'): duplicate section id");
      continue;
    }
    out.sections.push_back(std::move(section));
  }
  return out;
}

std::string SectionConfig::print(const ParsedConfig& config) const {
  std::string out;
  for (const auto& section : config.sections) {
    const SectionType* type = this->type(section.type);
    if (!type) throw Error("unknown section type '" + section.type + "'");
    const schema::Schema& keys = *type->keys;
    std::string data = section.type + ": " + section.id + "\n";

    auto line = [&](const std::string& key, const schema::Schema& s, const schema::Json& v) {
      if (s.type == schema::Type::Array) {
        const schema::Schema& item = s.items ? *s.items : s;
        if (!v.is_array()) throw Error("property '" + key + "' is not an array");
        for (const auto& e : v) data += "\t" + key + " " + print_value(item, e) + "\n";
        return;
      }
      std::string text = print_value(s, v);
      if (text.find_first_of("\r\n") != std::string::npos) {
        throw Error("property '" + key + "' contains a line feed");
      }
      if (text.empty()) return;  // an empty value is the same as an unset one
      data += "\t" + key + " " + text + "\n";
    };

    // PVE's order: comment first, a set disable flag bare, then required and optional keys sorted.
    if (const auto* s = keys.property("comment"); s && section.values.contains("comment")) {
      line("comment", *s, section.values.at("comment"));
    }
    if (const auto* s = keys.property("disable"); s && section.values.contains("disable")) {
      if (print_value(*s, section.values.at("disable")) == "1") data += "\tdisable\n";
    }
    for (const auto* prop : write_order(keys)) {
      const std::string& key = prop->first;
      if (key == "comment" || key == "disable") continue;
      auto it = section.values.find(key);
      if (it == section.values.end() || it->is_null()) {
        if (!prop->second->optional) {
          throw Error("section '" + section.id + "' - missing value for required option '" + key + "'");
        }
        continue;
      }
      line(key, *prop->second, *it);
    }
    out += data + "\n";
  }
  return out;
}

void SectionConfig::validate_section(const Section& section) const {
  const SectionType* type = this->type(section.type);
  if (!type) throw Error::param("type", "unknown section type '" + section.type + "'");
  Error::ParamErrors errors;
  if (!section.values.is_object()) throw Error::param("type", "section values must be an object");
  for (const auto& [key, value] : section.values.items()) {
    const schema::Schema* prop = type->keys->property(key);
    if (!prop) {
      errors[key] = "property is not defined in schema and the schema does not allow additional properties";
      continue;
    }
    if (prop->type == schema::Type::Array) {
      const schema::Schema& item = prop->items ? *prop->items : *prop;
      if (!value.is_array()) {
        errors[key] = "type check ('array') failed";
        continue;
      }
      for (const auto& e : value) {
        if (auto err = check_typed_value(item, e)) {
          errors[key] = *err;
          break;
        }
      }
      continue;
    }
    if (auto err = check_typed_value(*prop, value)) errors[key] = *err;
  }
  for (const auto& [key, s] : type->keys->properties) {
    if (!s->optional && !section.values.contains(key) && !errors.contains(key)) errors[key] = "property is missing and it is not optional";
  }
  if (!errors.empty()) throw Error::params(std::move(errors));
}

}  // namespace pvx::config
