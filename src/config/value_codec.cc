#include "config/value_codec.h"

#include <charconv>
#include <cmath>

#include "base/strings.h"
#include "schema/validate.h"

namespace pvx::config {
namespace {

std::string type_error(const char* type, std::string_view text) {
  return std::string("type check ('") + type + "') failed - got '" + std::string(text) + "'";
}

std::optional<std::string> schema_check(const schema::Schema& s, const schema::Json& v) {
  Error::ParamErrors errors;
  schema::check_value(s, v, "value", errors);
  if (errors.empty()) return std::nullopt;
  auto it = errors.find("value");
  return it != errors.end() ? it->second : errors.begin()->second;
}

bool integral(double d) { return std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15; }

}  // namespace

std::optional<bool> parse_boolean(std::string_view text) {
  std::string t = to_lower(text);
  if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
  if (t == "0" || t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

std::optional<std::string> parse_value(const schema::Schema& s, std::string_view text, schema::Json& out) {
  if (text.find_first_of("\r\n") != std::string_view::npos) return "property contains a line feed";
  switch (s.type) {
    case schema::Type::Boolean: {
      auto b = parse_boolean(text);
      if (!b) return type_error("boolean", text);
      out = *b ? 1 : 0;
      return std::nullopt;
    }
    case schema::Type::Integer: {
      std::string_view t = text;
      if (!t.empty() && t.front() == '+') t.remove_prefix(1);
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || end != t.data() + t.size()) return type_error("integer", text);
      out = v;
      break;
    }
    case schema::Type::Number: {
      std::string_view t = text;
      if (!t.empty() && t.front() == '+') t.remove_prefix(1);
      double v = 0;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(v)) {
        return type_error("number", text);
      }
      if (integral(v)) {
        out = static_cast<std::int64_t>(v);
      } else {
        out = v;
      }
      break;
    }
    default:
      out = std::string(text);
      break;
  }
  return schema_check(s, out);
}

std::optional<std::string> check_typed_value(const schema::Schema& s, const schema::Json& value) {
  if (s.type == schema::Type::Boolean) {
    if (value.is_boolean()) return std::nullopt;
    if (value.is_number_integer() && (value.get<std::int64_t>() == 0 || value.get<std::int64_t>() == 1)) {
      return std::nullopt;
    }
    if (value.is_string() && parse_boolean(value.get<std::string>())) return std::nullopt;
    return type_error("boolean", value.is_string() ? value.get<std::string>() : value.dump());
  }
  if (value.is_string() && value.get<std::string>().find_first_of("\r\n") != std::string::npos) {
    return "property contains a line feed";
  }
  return schema_check(s, value);
}

std::string print_value(const schema::Schema& s, const schema::Json& value) {
  if (s.type == schema::Type::Boolean) {
    if (value.is_boolean()) return value.get<bool>() ? "1" : "0";
    if (value.is_number()) return value.get<double>() != 0 ? "1" : "0";
    if (value.is_string()) return parse_boolean(value.get<std::string>()).value_or(false) ? "1" : "0";
    return "0";
  }
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (integral(d)) return std::to_string(static_cast<std::int64_t>(d));
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, end);
  }
  if (value.is_boolean()) return value.get<bool>() ? "1" : "0";
  return value.dump();
}

}  // namespace pvx::config
