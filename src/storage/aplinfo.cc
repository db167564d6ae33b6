#include "storage/aplinfo.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace pvx::storage {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool safe_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 255) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '+' || c == '~';
  });
}

// Location against the index URL's directory, unless it is a URL itself.
std::string absolute_location(const std::string& location, const std::string& source_url) {
  if (location.find("://") != std::string::npos) return location;
  auto slash = source_url.rfind('/');
  std::string base = slash == std::string::npos ? source_url : source_url.substr(0, slash + 1);
  return base + location;
}

nlohmann::json finish(std::map<std::string, std::string>& fields, const std::string& source_url) {
  for (const char* required : {"package", "version", "location"}) {
    if (fields[required].empty()) return nullptr;
  }
  std::string location = absolute_location(fields["location"], source_url);
  auto query = location.find_first_of("?#");
  std::string path = location.substr(0, query);
  std::string name = path.substr(path.rfind('/') + 1);
  if (!safe_file_name(name) || path.find("/../") != std::string::npos) return nullptr;
  nlohmann::json e = nlohmann::json::object();
  for (const auto& [k, v] : fields) {
    if (k != "description") e[k] = v;
  }
  const std::string& d = fields["description"];
  auto nl = d.find('\n');
  e["headline"] = trim(d.substr(0, nl));
  e["description"] = nl == std::string::npos ? std::string() : d.substr(nl + 1);
  e["location"] = location;
  e["template"] = name;
  e["source"] = source_url;
  if (!e.contains("type")) e["type"] = "lxc";
  if (!e.contains("section")) e["section"] = "system";
  return e;
}

}  // namespace

std::vector<nlohmann::json> parse_aplinfo(std::string_view text, const std::string& source_url) {
  std::vector<nlohmann::json> out;
  std::map<std::string, std::string> fields;
  std::string last;
  std::istringstream in{std::string(text)};
  std::string line;
  auto flush = [&] {
    if (!fields.empty()) {
      auto e = finish(fields, source_url);
      if (!e.is_null()) out.push_back(std::move(e));
    }
    fields.clear();
    last.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !last.empty()) {
      std::string cont = trim(line);
      fields[last] += "\n" + (cont == "." ? std::string() : cont);  // " ." is an empty line
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    last = lower(trim(line.substr(0, colon)));
    fields[last] = trim(line.substr(colon + 1));
  }
  flush();
  return out;
}

std::vector<std::string> aplinfo_sources(const fs::path& data_dir) {
  std::ifstream in(data_dir / "apl-info" / "sources");
  if (!in) {
    return {"http://download.proxmox.com/images/aplinfo-pve-9.dat", "https://releases.turnkeylinux.org/pve/aplinfo.dat"};
  }
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

fs::path aplinfo_index_file(const fs::path& data_dir, const std::string& url) {
  std::string name;
  for (char c : url) name.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_');
  return data_dir / "apl-info" / name;
}

std::vector<nlohmann::json> load_aplinfo(const fs::path& data_dir) {
  std::vector<nlohmann::json> out;
  std::set<std::string> seen;
  for (const auto& url : aplinfo_sources(data_dir)) {
    std::ifstream in(aplinfo_index_file(data_dir, url));
    if (!in) continue;
    std::stringstream ss;
    ss << in.rdbuf();
    for (auto& e : parse_aplinfo(ss.str(), url)) {
      if (seen.insert(e["template"].get<std::string>()).second) out.push_back(std::move(e));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a["template"] < b["template"]; });
  return out;
}

}  // namespace pvx::storage
