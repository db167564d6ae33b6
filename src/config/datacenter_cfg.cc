#include "config/datacenter_cfg.h"

#include <algorithm>
#include <map>

#include "base/error.h"
#include "base/strings.h"
#include "config/text_codec.h"
#include "config/value_codec.h"
#include "schema/validate.h"

namespace pvx::config {
namespace {

// Keys whose ';'-separated tag lists the API hands out as arrays.
constexpr const char* kRegisteredTags = "registered-tags";
constexpr const char* kUserTagAccess = "user-tag-access";
constexpr const char* kUserAllowList = "user-allow-list";

std::vector<std::string> split_tags(const std::string& text) { return split_any(text, ";"); }

std::string join_tags(const schema::Json& tags) {
  if (tags.is_string()) return tags.get<std::string>();
  std::vector<std::string> list;
  for (const auto& t : tags) list.push_back(t.is_string() ? t.get<std::string>() : t.dump());
  std::sort(list.begin(), list.end());
  std::string out;
  for (const auto& t : list) out += (out.empty() ? "" : ";") + t;
  return out;
}

std::string first_message(const Error& e) {
  return e.params().empty() ? e.what() : e.params().begin()->second;
}

// Parses one known key's text into its API shape; returns an error message on failure.
std::optional<std::string> parse_known(const std::string& key, const schema::Schema& s, const std::string& text,
                                       schema::Json& out) {
  if (s.format_object) {
    try {
      out = schema::parse_property_string(*s.format_object, text, key);
    } catch (const Error& e) {
      return first_message(e);
    }
    if (key == kUserTagAccess && out.contains(kUserAllowList) && out[kUserAllowList].is_string()) {
      out[kUserAllowList] = split_tags(out[kUserAllowList].get<std::string>());
    }
    return std::nullopt;
  }
  if (auto err = parse_value(s, text, out)) return err;
  if (key == kRegisteredTags) out = split_tags(text);
  return std::nullopt;
}

std::string print_known(const std::string& key, const schema::Schema& s, const schema::Json& value) {
  if (s.format_object && value.is_object()) {
    schema::Json v = value;
    if (key == kUserTagAccess && v.contains(kUserAllowList)) v[kUserAllowList] = join_tags(v[kUserAllowList]);
    if (key == "next-id") {
      auto bound = [&](const char* k) {
        return v.contains(k) ? v[k].get<std::int64_t>() : s.format_object->property(k)->default_value.get<std::int64_t>();
      };
      auto lower = bound("lower"), upper = bound("upper");
      if (lower > upper) {
        throw Error::param(key, "lower (" + std::to_string(lower) + ") <= upper (" + std::to_string(upper) +
                                    ") boundary rule broken");
      }
    }
    return schema::print_property_string(*s.format_object, v);
  }
  if (key == kRegisteredTags && value.is_array()) return join_tags(value);
  return print_value(s, value);
}

}  // namespace

ParsedDatacenterConfig parse_datacenter_cfg(std::string_view text, std::string_view filename) {
  const schema::Schema& keys = *datacenter_schema();
  ParsedDatacenterConfig out;
  auto& values = out.config.values;
  auto warn = [&](const std::string& key, const std::string& msg) {
    out.warnings.push_back("parse error in '" + std::string(filename) + "' - '" + key + "': " + msg);
  };

  std::string comment;
  std::optional<std::string> description_key;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    pos = nl + 1;
    // The description lives in '#' lines starting in column 0; they may appear anywhere.
    if (!raw.empty() && raw.front() == '#') {
      std::string_view body = raw.substr(1);
      if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
      comment += decode_text(body) + "\n";
      continue;
    }
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos ||
        line.substr(0, colon).find_first_of(" \t") != std::string_view::npos) {
      out.warnings.push_back("ignore config line: " + std::string(line));
      continue;
    }
    std::string key(line.substr(0, colon));
    std::string value(trim(line.substr(colon + 1)));
    const schema::Schema* prop = keys.property(key);
    if (!prop) {
      warn(key, "unknown setting, kept as it is");
      out.config.unknown.emplace_back(key, value);
      continue;
    }
    if (key == "description") {
      description_key = value;
      continue;
    }
    schema::Json typed;
    if (auto err = parse_known(key, *prop, value, typed)) {
      warn(key, *err);
      values.erase(key);  // a later bad line for a key wins over an earlier good one, as in PVE
      continue;
    }
    values[key] = std::move(typed);
  }

  // PVE lets the comment win over a "description:" line.
  if (!comment.empty()) {
    values["description"] = comment;
  } else if (description_key && !description_key->empty()) {
    values["description"] = *description_key;
  }

  // Upgrades of deprecated spellings.
  if (values.contains("migration_unsecure")) {
    bool insecure = values["migration_unsecure"] == 1;
    if (values.contains("migration") && values["migration"].contains("type")) {
      out.warnings.push_back("deprecated setting 'migration_unsecure' and new 'migration: type' set at same "
                             "time! Ignore 'migration_unsecure'");
    } else {
      values["migration"]["type"] = insecure ? "insecure" : "secure";
    }
    values.erase("migration_unsecure");
  }
  if (values.contains("console") && values["console"] == "applet") values["console"] = "html5";
  return out;
}

std::string print_datacenter_cfg(const DatacenterConfig& config) {
  const schema::Schema& keys = *datacenter_schema();
  std::string out;
  if (auto it = config.values.find("description"); it != config.values.end() && it->is_string()) {
    const std::string& d = it->get<std::string>();
    // One comment line per description line; like Perl's split, trailing empty lines vanish.
    std::vector<std::string_view> lines;
    for (std::size_t pos = 0; pos < d.size();) {
      std::size_t nl = d.find('\n', pos);
      if (nl == std::string::npos) nl = d.size();
      lines.emplace_back(d.data() + pos, nl - pos);
      pos = nl + 1;
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    for (auto l : lines) out += "#" + encode_text(l) + "\n";
  }
  out += "\n";

  std::map<std::string, std::string> lines;  // sorted by key, byte order
  for (const auto& [key, value] : config.values.items()) {
    if (key == "description" || value.is_null()) continue;
    const schema::Schema* prop = keys.property(key);
    if (!prop) throw Error::param(key, "property is not defined in schema");
    std::string text = print_known(key, *prop, value);
    if (text.find_first_of("\r\n") != std::string::npos) throw Error::param(key, "value contains a line feed");
    lines[key] = std::move(text);
  }
  for (const auto& [key, value] : config.unknown) lines.try_emplace(key, value);
  for (const auto& [key, value] : lines) out += key + ": " + value + "\n";
  return out;
}

}  // namespace pvx::config
