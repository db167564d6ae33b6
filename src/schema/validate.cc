#include "schema/validate.h"

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <regex>
#include <stdexcept>
#include <unordered_map>

#include "base/strings.h"
#include "schema/formats.h"
#include "schema/value_text.h"

namespace pvx::schema {
namespace {

using Errors = Error::ParamErrors;

// Request parameters arrive as text and are converted to their declared types (Coerce); values
// checked with check_value must already have them (Strict).
enum class Mode { Coerce, Strict };

void add_error(Errors& errors, const std::string& path, const std::string& msg) {
  const std::string key = path.empty() ? "_root" : path;
  auto [it, inserted] = errors.emplace(key, msg);
  if (!inserted) it->second += "\n" + msg;
}

std::string child_path(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

// Hand-written scanners rather than std::regex: libstdc++'s regex recurses once per character,
// and parameters are attacker-controlled and may be long.
// Longer values are refused before a pattern is tried: std::regex needs stack in proportion to
// the input, and no declared pattern describes values this long.
constexpr size_t kMaxRegexInput = 4096;

size_t scan_digits(std::string_view v, size_t i) {
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
  return i;
}

// [+-]?\d+
bool is_integer_text(std::string_view v) {
  size_t i = !v.empty() && (v[0] == '+' || v[0] == '-') ? 1 : 0;
  size_t end = scan_digits(v, i);
  return end > i && end == v.size();
}

// The value of integer text ("42", "+42", "-7"), or nullopt when it is not one or overflows.
std::optional<std::int64_t> integer_from_text(std::string_view t) {
  if (!is_integer_text(t)) return std::nullopt;
  if (t.front() == '+') t.remove_prefix(1);
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
  return n;
}

// [+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?
bool is_number_text(std::string_view v) {
  size_t i = !v.empty() && (v[0] == '+' || v[0] == '-') ? 1 : 0;
  size_t int_end = scan_digits(v, i);
  size_t end = int_end;
  if (end < v.size() && v[end] == '.') {
    size_t frac_end = scan_digits(v, end + 1);
    if (int_end == i && frac_end == end + 1) return false;  // "." alone
    end = frac_end;
  } else if (int_end == i) {
    return false;
  }
  if (end < v.size() && (v[end] == 'e' || v[end] == 'E')) {
    size_t e = end + 1;
    if (e < v.size() && (v[e] == '+' || v[e] == '-')) ++e;
    size_t exp_end = scan_digits(v, e);
    if (exp_end == e) return false;
    end = exp_end;
  }
  return end == v.size();
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

const std::regex& compiled(const std::string& pattern) {
  // Schemas are shared between threads, so each thread keeps its own compiled patterns.
  thread_local std::unordered_map<std::string, std::regex> cache;
  auto it = cache.find(pattern);
  if (it != cache.end()) return it->second;
  try {
    return cache.emplace(pattern, std::regex(pattern, std::regex::ECMAScript)).first->second;
  } catch (const std::regex_error&) {
    throw std::logic_error("schema: invalid pattern '" + pattern + "'");
  }
}

// How PVE names a non-scalar it did not expect ("got ARRAY").
std::string ref_name(const Json& v) {
  if (v.is_array()) return "ARRAY";
  if (v.is_object()) return "HASH";
  return "JSON::PP::Boolean";
}

std::string type_failed(Type t, const Json& v) {
  std::string head = std::string("type check ('") + type_name(t) + "') failed - got ";
  if (v.is_array() || v.is_object() || v.is_boolean()) return head + ref_name(v);
  return head + "'" + value_text(v) + "'";
}

std::optional<bool> parse_bool_text(std::string_view text) {
  std::string t = to_lower(text);
  if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
  if (t == "0" || t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

// Checks (and in Coerce mode converts) the JSON type of a scalar. Returns false after adding the
// error.
bool check_scalar_type(const Schema& s, Json& v, const std::string& path, Errors& errors, Mode mode) {
  switch (s.type) {
    case Type::Boolean:
      if (v.is_boolean()) return true;
      if (v.is_number_integer() && (v.get<std::int64_t>() == 0 || v.get<std::int64_t>() == 1)) {
        if (mode == Mode::Coerce) v = v.get<std::int64_t>() == 1;
        return true;
      }
      if (mode == Mode::Coerce && v.is_string()) {
        if (auto b = parse_bool_text(v.get<std::string>())) {
          v = *b;
          return true;
        }
      }
      break;
    case Type::Integer:
      if (v.is_number_integer()) return true;
      if (v.is_number_float()) {
        double d = v.get<double>();
        if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e18) {
          if (mode == Mode::Coerce) v = static_cast<std::int64_t>(d);
          return true;
        }
        break;
      }
      if (mode == Mode::Coerce && v.is_string()) {
        if (auto n = integer_from_text(v.get_ref<const std::string&>())) {
          v = *n;
          return true;
        }
      }
      break;
    case Type::Number:
      if (v.is_number()) return true;
      if (mode == Mode::Coerce && v.is_string()) {
        const std::string& t = v.get_ref<const std::string&>();
        if (is_number_text(t)) {
          if (auto n = integer_from_text(t)) {
            v = *n;
            return true;
          }
          v = std::strtod(t.c_str(), nullptr);
          return true;
        }
      }
      break;
    case Type::String:
      if (v.is_string()) return true;
      if (mode == Mode::Coerce && v.is_number()) {
        // A JSON body may send 5 where a string is declared; Perl would not see a difference.
        v = value_text(v);
        return true;
      }
      break;
    default:
      return true;
  }
  add_error(errors, path, type_failed(s.type, v));
  return false;
}

void check_prop(const Schema& s, Json* value, const std::string& path, Errors& errors, Mode mode);

void check_object(const Schema& s, Json& value, const std::string& path, Errors& errors, Mode mode) {
  // Aliased keys are moved to their target, so later code only sees canonical names.
  std::vector<std::string> keys;
  for (auto it = value.begin(); it != value.end(); ++it) keys.push_back(it.key());
  for (const auto& k : keys) {
    const Schema* sub = s.property(k);
    if (sub == nullptr || sub->alias.empty()) continue;
    if (value.contains(sub->alias) && !value[sub->alias].is_null()) {
      add_error(errors, child_path(path, k), "cannot set both '" + k + "' and its alias target '" + sub->alias + "'");
    } else {
      value[sub->alias] = std::move(value[k]);
      value.erase(k);
    }
  }

  for (const auto& [name, sub] : s.properties) {
    auto it = value.find(name);
    check_prop(*sub, it == value.end() ? nullptr : &*it, child_path(path, name), errors, mode);
  }

  for (auto it = value.begin(); it != value.end(); ++it) {
    const Schema* sub = s.property(it.key());
    if (sub != nullptr) {
      if (!sub->requires_.empty() && !it->is_null()) {
        auto req = value.find(sub->requires_);
        if (req == value.end() || req->is_null()) {
          add_error(errors, child_path(path, sub->requires_), "missing property required by '" + child_path(path, it.key()) + "'");
        }
      }
      continue;
    }
    if (!s.additional_properties) {
      add_error(errors, child_path(path, it.key()),
                "property is not defined in schema and the schema does not allow additional properties");
    }
  }
}

// Property-string parsing. `fatal` gets a message that stops parsing (PVE's die); key errors are
// per key, keyed "path.key".
Json parse_ps(const Schema& keys, std::string_view text, const std::string& path, std::string& fatal, Errors& key_errors) {
  Json res = Json::object();
  bool have_default = false;
  auto as_value = [](const Schema* s, std::string v) -> Json {
    if (s != nullptr && s->type == Type::Boolean) {
      if (auto b = parse_bool_text(v)) return *b;
    }
    return v;
  };
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t comma = text.find(',', pos);
    std::string_view part = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (trim(part).empty()) continue;

    std::size_t eq = part.find('=');
    if (eq != std::string_view::npos && eq > 0 && eq + 1 < part.size()) {
      std::string k(part.substr(0, eq));
      std::string v(part.substr(eq + 1));
      if (res.contains(k)) {
        fatal = "duplicate key in comma-separated list property: " + k;
        return res;
      }
      const Schema* ks = keys.property(k);
      if (ks != nullptr && !ks->alias.empty()) {
        if (!ks->key_alias.empty()) {
          if (res.contains(ks->key_alias)) {
            fatal = "key alias '" + ks->key_alias + "' is already defined";
            return res;
          }
          res[ks->key_alias] = k;
        }
        k = ks->alias;
        ks = keys.property(k);
        if (res.contains(k)) {
          fatal = "key '" + k + "' is already defined (via alias)";
          return res;
        }
      }
      // Unknown keys are kept and reported by the object check, as PVE does.
      res[k] = as_value(ks, std::move(v));
    } else if (eq == std::string_view::npos) {
      const std::string& dk = keys.default_key;
      if (dk.empty()) {
        fatal = "value without key, but schema does not define a default key";
        return res;
      }
      if (have_default || res.contains(dk)) {
        fatal = "duplicate key in comma-separated list property: " + dk;
        return res;
      }
      have_default = true;
      res[dk] = as_value(keys.property(dk), std::string(part));
    } else {
      fatal = "missing key in comma-separated list property";
      return res;
    }
  }
  check_object(keys, res, path, key_errors, Mode::Coerce);
  return res;
}

// PVE's message for a property string that failed: one line per bad key after "format error".
std::string format_error_text(const std::string& fatal, const Errors& key_errors) {
  if (!fatal.empty()) return "invalid format - " + fatal;
  std::string msg = "invalid format - format error";
  for (const auto& [k, m] : key_errors) msg += "\n" + k + ": " + m;
  return msg;
}

void check_string_constraints(const Schema& s, const Json& v, const std::string& path, Errors& errors) {
  const std::string text = value_text(v);
  // Length first: it is cheap, and it keeps overlong values away from the regex engine.
  if (s.max_length && utf8_length(text) > *s.max_length) {
    add_error(errors, path, "value may only be " + std::to_string(*s.max_length) + " characters long");
    return;
  }
  if (s.format_object) {
    std::string fatal;
    Errors key_errors;
    parse_ps(*s.format_object, text, path, fatal, key_errors);
    if (!fatal.empty() || !key_errors.empty()) {
      add_error(errors, path, format_error_text(fatal, key_errors));
      return;
    }
  } else if (!s.format.empty()) {
    if (auto err = check_format(s.format, text)) {
      add_error(errors, path, "invalid format - " + *err);
      return;
    }
  }
  if (!s.pattern.empty() && (text.size() > kMaxRegexInput || !std::regex_match(text, compiled(s.pattern)))) {
    add_error(errors, path, "value does not match the regex pattern");
    return;
  }
  if (s.min_length && utf8_length(text) < *s.min_length) {
    add_error(errors, path, "value must be at least " + std::to_string(*s.min_length) + " characters long");
    return;
  }
  if (v.is_number() || (v.is_string() && is_number_text(text))) {
    double d = v.is_number() ? v.get<double>() : std::strtod(text.c_str(), nullptr);
    if (s.maximum && d > *s.maximum) {
      add_error(errors, path, "value must have a maximum value of " + number_text(*s.maximum));
      return;
    }
    if (s.minimum && d < *s.minimum) {
      add_error(errors, path, "value must have a minimum value of " + number_text(*s.minimum));
      return;
    }
  }
  if (!s.enumeration.empty()) {
    for (const auto& e : s.enumeration) {
      if (e == text) return;
    }
    std::string list;
    for (const auto& e : s.enumeration) list += (list.empty() ? "" : ", ") + e;
    add_error(errors, path, "value '" + text + "' does not have a value in the enumeration '" + list + "'");
  }
}

void check_prop(const Schema& s, Json* value, const std::string& path, Errors& errors, Mode mode) {
  // Aliases are remapped to their target before this point.
  if (!s.alias.empty()) return;
  if (value == nullptr || value->is_null()) {
    if (s.type == Type::Null) return;
    if (!s.optional) add_error(errors, path, "property is missing and it is not optional");
    return;
  }
  Json& v = *value;
  switch (s.type) {
    case Type::Any:
      return;
    case Type::Null:
      add_error(errors, path, "type check ('null') failed - value is not null");
      return;
    case Type::Array:
      if (!v.is_array()) {
        add_error(errors, path, "type check ('array') failed");
        return;
      }
      if (s.items) {
        for (std::size_t i = 0; i < v.size(); ++i) check_prop(*s.items, &v[i], path + "[" + std::to_string(i) + "]", errors, mode);
      }
      return;
    case Type::Object:
      if (!v.is_object()) {
        add_error(errors, path, "type check ('object') failed");
        return;
      }
      // An Object without declared properties is free-form (PVE checks members only when the
      // schema names some).
      if (!s.properties.empty()) check_object(s, v, path, errors, mode);
      return;
    default:
      break;
  }
  if (!check_scalar_type(s, v, path, errors, mode)) return;
  check_string_constraints(s, v, path, errors);
}

}  // namespace

void validate_params(const Schema& object_schema, Json& params) {
  Errors errors;
  if (!params.is_object()) {
    add_error(errors, "", "type check ('object') failed");
    throw Error::params(std::move(errors));
  }
  // Form encoding cannot nest, so only the top level gets the legacy conversions PVE applies:
  // a list for a "-list" string becomes one string, a single value for an array becomes a list.
  for (auto it = params.begin(); it != params.end();) {
    if (it->is_null()) {
      it = params.erase(it);
      continue;
    }
    const Schema* ps = object_schema.property(it.key());
    if (ps != nullptr) {
      const bool is_list_format = ps->format.size() > 5 && ps->format.compare(ps->format.size() - 5, 5, "-list") == 0;
      if (ps->type == Type::String && is_list_format && it->is_array()) {
        std::string joined;
        for (const auto& el : *it) joined += (joined.empty() ? "" : ",") + value_text(el);
        *it = joined;
      } else if (ps->type == Type::Array && !it->is_array()) {
        *it = Json::array({*it});
      }
    }
    ++it;
  }
  check_object(object_schema, params, "", errors, Mode::Coerce);
  if (!errors.empty()) throw Error::params(std::move(errors));
}

void check_value(const Schema& schema, const Json& value, const std::string& path, Error::ParamErrors& errors) {
  Json copy = value;
  check_prop(schema, &copy, path, errors, Mode::Strict);
}

Json parse_property_string(const Schema& keys, std::string_view text, const std::string& param) {
  std::string fatal;
  Errors key_errors;
  Json res = parse_ps(keys, text, param, fatal, key_errors);
  if (!fatal.empty() || !key_errors.empty()) throw Error::param(param, format_error_text(fatal, key_errors));
  return res;
}

std::string print_property_string(const Schema& keys, const Json& values) {
  Json data = values.is_object() ? values : Json::object();
  Errors errors;
  check_object(keys, data, "", errors, Mode::Coerce);
  if (!errors.empty()) throw Error(400, "format error", std::move(errors));

  // "model" -> "macaddr": the pair prints as "virtio=MAC".
  std::map<std::string, std::string> key_alias_props;
  for (const auto& [name, ks] : keys.properties) {
    if (!ks->key_alias.empty()) key_alias_props[ks->key_alias] = ks->alias;
  }

  auto format_value = [&](const std::string& key, const Json& v) {
    const Schema* ks = keys.property(key);
    if (ks != nullptr && ks->format == "disk-size") {
      if (v.is_number_integer()) return format_disk_size(v.get<std::uint64_t>());
      if (v.is_string()) {
        if (auto bytes = parse_disk_size(v.get<std::string>())) return format_disk_size(*bytes);
      }
    }
    std::string text = value_text(v);
    if (text.find(',') != std::string::npos) throw Error::param(key, "illegal value with commas for " + key);
    return text;
  };

  std::string out;
  std::map<std::string, bool> done;
  auto add = [&](const std::string& text) {
    if (!out.empty()) out += ',';
    out += text;
  };
  auto cond_add = [&](const std::string& key, bool is_default) {
    if (done[key]) return;
    done[key] = true;
    auto it = data.find(key);
    if (it == data.end() || it->is_null()) return;
    auto combine = key_alias_props.find(key);
    if (combine != key_alias_props.end()) {
      auto cv = data.find(combine->second);
      if (cv != data.end() && !cv->is_null()) {
        add(format_value(key, *it) + "=" + format_value(combine->second, *cv));
        done[combine->second] = true;
        return;
      }
    }
    add(is_default ? format_value(key, *it) : key + "=" + format_value(key, *it));
  };

  if (!keys.default_key.empty()) cond_add(keys.default_key, true);
  for (auto it = data.begin(); it != data.end(); ++it) {  // nlohmann objects iterate sorted
    const Schema* ks = keys.property(it.key());
    if (ks != nullptr && !ks->optional) cond_add(it.key(), false);
  }
  for (auto it = data.begin(); it != data.end(); ++it) cond_add(it.key(), false);
  return out;
}

}  // namespace pvx::schema
