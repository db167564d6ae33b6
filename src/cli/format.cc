#include "cli/format.h"

#include <algorithm>
#include <set>

#include "base/error.h"

namespace pvx::cli {
namespace {

using nlohmann::json;

std::string scalar_text(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  return v.dump();
}

// Display width of UTF-8 text (code points, not bytes).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string pad(const std::string& s, size_t w) { return s + std::string(w - std::min(w, width(s)), ' '); }

std::string line(const std::vector<size_t>& widths, const char* left, const char* fill, const char* mid,
                 const char* right) {
  std::string out = left;
  for (size_t i = 0; i < widths.size(); ++i) {
    for (size_t k = 0; k < widths[i] + 2; ++k) out += fill;
    out += i + 1 < widths.size() ? mid : right;
  }
  return out + "\n";
}

bool yaml_plain(const std::string& s) {
  if (s.empty()) return false;
  static const std::string special = ":#{}[],&*!|>'\"%@`";
  if (special.find(s.front()) != std::string::npos || s.front() == ' ' || s.back() == ' ' || s.front() == '-') {
    return false;
  }
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos || s.find('\n') != std::string::npos) {
    return false;
  }
  static const std::set<std::string> reserved = {"true", "false", "null", "yes", "no", "on", "off", "~"};
  return !reserved.count(s);
}

void yaml_emit(const json& v, int indent, std::string& out, bool inline_start) {
  std::string ind(static_cast<size_t>(indent), ' ');
  if (v.is_object()) {
    if (v.empty()) {
      out += "{}\n";
      return;
    }
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!(first && inline_start)) out += ind;
      first = false;
      out += it.key() + ":";
      const json& c = it.value();
      if ((c.is_object() || c.is_array()) && !c.empty()) {
        out += "\n";
        yaml_emit(c, indent + 2, out, false);
      } else {
        out += " ";
        yaml_emit(c, indent + 2, out, true);
      }
    }
  } else if (v.is_array()) {
    if (v.empty()) {
      out += "[]\n";
      return;
    }
    bool first = true;
    for (const auto& c : v) {
      if (!(first && inline_start)) out += ind;
      first = false;
      out += "- ";
      yaml_emit(c, indent + 2, out, true);
    }
  } else if (v.is_string()) {
    std::string s = v.get<std::string>();
    out += yaml_plain(s) ? s : json(s).dump();
    out += "\n";
  } else {
    out += (v.is_null() ? "null" : v.dump()) + "\n";
  }
}

std::vector<std::string> columns_of(const json& rows, const schema::Schema* returns) {
  std::vector<std::string> cols;
  std::set<std::string> present;
  for (const auto& r : rows) {
    if (r.is_object()) {
      for (auto it = r.begin(); it != r.end(); ++it) present.insert(it.key());
    }
  }
  // Declared properties first (in declaration order, which the builder sorted), then the rest.
  if (returns && returns->items) {
    for (const auto& [name, s] : returns->items->properties) {
      if (present.erase(name)) cols.push_back(name);
    }
  }
  cols.insert(cols.end(), present.begin(), present.end());
  return cols;
}

}  // namespace

OutputFormat parse_output_format(const std::string& name) {
  if (name == "text") return OutputFormat::Text;
  if (name == "json") return OutputFormat::Json;
  if (name == "json-pretty") return OutputFormat::JsonPretty;
  if (name == "yaml") return OutputFormat::Yaml;
  throw Error::param("output-format", "value '" + name + "' does not have a value in the enumeration "
                                      "'text, json, json-pretty, yaml'");
}

std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = width(header[i]);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  }
  std::string out = line(w, "┌", "─", "┬", "┐");
  auto row_text = [&](const std::vector<std::string>& r) {
    std::string s = "│";
    for (size_t i = 0; i < w.size(); ++i) s += " " + pad(i < r.size() ? r[i] : "", w[i]) + " │";
    return s + "\n";
  };
  out += row_text(header);
  out += line(w, "╞", "═", "╪", "╡");
  for (size_t i = 0; i < rows.size(); ++i) {
    out += row_text(rows[i]);
    if (i + 1 < rows.size()) out += line(w, "├", "─", "┼", "┤");
  }
  out += line(w, "└", "─", "┴", "┘");
  return out;
}

std::string to_yaml(const json& data) {
  std::string out = "---\n";
  yaml_emit(data, 0, out, false);
  return out;
}

std::string render(const json& data, const schema::Schema* returns, OutputFormat format) {
  switch (format) {
    case OutputFormat::Json: return data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    case OutputFormat::JsonPretty: return data.dump(4, ' ', false, json::error_handler_t::replace) + "\n";
    case OutputFormat::Yaml: return to_yaml(data);
    case OutputFormat::Text: break;
  }
  if (data.is_null()) return "";
  if (data.is_object()) {
    std::vector<std::vector<std::string>> rows;
    for (auto it = data.begin(); it != data.end(); ++it) {
      const json& v = it.value();
      rows.push_back({it.key(), v.is_structured() ? v.dump() : scalar_text(v)});
    }
    return render_table({"key", "value"}, rows);
  }
  if (data.is_array()) {
    if (data.empty()) return "";
    bool objects = std::all_of(data.begin(), data.end(), [](const json& r) { return r.is_object(); });
    if (!objects) {
      std::string out;
      for (const auto& v : data) out += (v.is_structured() ? v.dump() : scalar_text(v)) + "\n";
      return out;
    }
    auto cols = columns_of(data, returns);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : data) {
      std::vector<std::string> row;
      for (const auto& c : cols) {
        auto it = r.find(c);
        row.push_back(it == r.end() ? "" : it->is_structured() ? it->dump() : scalar_text(*it));
      }
      rows.push_back(std::move(row));
    }
    return render_table(cols, rows);
  }
  return scalar_text(data) + "\n";
}

}  // namespace pvx::cli
