#include "http/params.h"

#include <optional>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::http {

using Json = nlohmann::json;

namespace {

// A repeated key turns into an array of all its values, in the order they came.
void add_param(Json& params, const std::string& key, std::string value) {
  auto it = params.find(key);
  if (it == params.end()) {
    params[key] = std::move(value);
  } else if (it->is_array()) {
    it->push_back(std::move(value));
  } else {
    Json first = std::move(*it);
    *it = Json::array({std::move(first), std::move(value)});
  }
}

// The lower-cased media type before any ";" parameters.
std::string media_type(std::string_view content_type) {
  return to_lower(trim(content_type.substr(0, content_type.find(';'))));
}

// The value of one ";"-separated parameter of a header such as Content-Type or
// Content-Disposition (`boundary=...`, `name="..."`), unquoted; nullopt if absent.
std::optional<std::string> header_param(std::string_view header, std::string_view wanted) {
  constexpr auto npos = std::string_view::npos;
  size_t i = header.find(';');
  while (i != npos && i < header.size()) {
    ++i;  // past the ';'
    size_t eq = header.find_first_of("=;", i);
    if (eq == npos) break;
    if (header[eq] == ';') {  // a parameter without a value
      i = eq;
      continue;
    }
    std::string name = to_lower(trim(header.substr(i, eq - i)));
    i = eq + 1;
    while (i < header.size() && (header[i] == ' ' || header[i] == '\t')) ++i;
    std::string value;
    if (i < header.size() && header[i] == '"') {
      // Quoted string: runs to the closing quote, with backslash escapes.
      for (++i; i < header.size() && header[i] != '"'; ++i) {
        if (header[i] == '\\' && i + 1 < header.size()) ++i;
        value.push_back(header[i]);
      }
      i = header.find(';', i);
    } else {
      size_t end = header.find(';', i);
      value = std::string(trim(header.substr(i, end == npos ? npos : end - i)));
      i = end;
    }
    if (name == wanted) return value;
  }
  return std::nullopt;
}

Json parse_json_body(std::string_view body) {
  if (trim(body).empty()) return Json::object();
  Json parsed = Json::parse(body, nullptr, false);
  if (parsed.is_discarded()) throw Error("unable to parse JSON body", 400);
  if (!parsed.is_object()) throw Error("JSON body must be an object", 400);
  return parsed;
}

// RFC 7578 body: parts between "--boundary" lines, each with its own headers. Fields become
// strings; a file part keeps its content under the field name and its name in "<field>.filename".
Json parse_multipart(std::string_view content_type, std::string_view body) {
  auto boundary = header_param(content_type, "boundary");
  if (!boundary || boundary->empty()) throw Error("multipart body without boundary", 400);
  const std::string delimiter = "--" + *boundary;
  Json params = Json::object();

  size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) throw Error("malformed multipart body (no boundary found)", 400);
  pos += delimiter.size();
  for (;;) {
    if (body.substr(pos, 2) == "--") return params;  // closing delimiter
    // The rest of the delimiter line (optional whitespace) then CRLF.
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos) throw Error("malformed multipart body (truncated)", 400);
    size_t headers_start = eol + 2;
    size_t headers_end = body.find("\r\n\r\n", headers_start);
    // A part with no headers at all starts straight with the blank line.
    size_t content_start;
    std::string_view headers;
    if (body.substr(headers_start, 2) == "\r\n") {
      content_start = headers_start + 2;
    } else {
      if (headers_end == std::string_view::npos) throw Error("malformed multipart body (part headers)", 400);
      headers = body.substr(headers_start, headers_end - headers_start);
      content_start = headers_end + 4;
    }
    const std::string next_delim = "\r\n" + delimiter;
    size_t content_end = body.find(next_delim, content_start);
    if (content_end == std::string_view::npos) throw Error("malformed multipart body (unterminated part)", 400);
    std::string_view content = body.substr(content_start, content_end - content_start);

    std::optional<std::string> name, filename;
    for (const auto& line : split_any(headers, "\r\n")) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      if (to_lower(trim(std::string_view(line).substr(0, colon))) != "content-disposition") continue;
      std::string_view value = std::string_view(line).substr(colon + 1);
      name = header_param(value, "name");
      filename = header_param(value, "filename");
    }
    if (!name || name->empty()) throw Error("malformed multipart body (part without a name)", 400);
    add_param(params, *name, std::string(content));
    if (filename) add_param(params, *name + ".filename", *filename);
    pos = content_end + next_delim.size();
  }
}

}  // namespace

Json parse_query(std::string_view query) {
  Json params = Json::object();
  for (const auto& pair : split_any(query, "&;")) {
    size_t eq = pair.find('=');
    std::string key = url_decode(std::string_view(pair).substr(0, eq));
    if (key.empty() || key == "_dc") continue;
    std::string value = eq == std::string::npos ? std::string() : url_decode(std::string_view(pair).substr(eq + 1));
    add_param(params, key, std::move(value));
  }
  return params;
}

Json parse_body(std::string_view content_type, std::string_view body) {
  std::string type = media_type(content_type);
  if (type.empty() || type == "application/x-www-form-urlencoded") return parse_query(body);
  if (type == "application/json") return parse_json_body(body);
  if (type == "multipart/form-data") return parse_multipart(content_type, body);
  throw Error("unsupported content type '" + type + "'", 506);
}

}  // namespace pvx::http
