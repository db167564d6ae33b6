#include "auth/domains_config.h"

#include <cctype>

#include "base/strings.h"

namespace pvx::auth {

std::map<std::string, std::string, std::less<>> parse_realm_types(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    // Section headers start in column 0: "<type>: <id>"; keys are indented.
    if (line.empty() || std::isspace(static_cast<unsigned char>(line.front())) || line.front() == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view type = trim(line.substr(0, colon)), id = trim(line.substr(colon + 1));
    if (!type.empty() && !id.empty()) out.emplace(std::string(id), std::string(type));
  }
  out.try_emplace("pam", "pam");
  out.try_emplace("pve", "pve");
  return out;
}

std::string default_domains_cfg() {
  return "pam: pam\n"
         "\tcomment Linux PAM standard authentication\n"
         "\n"
         "pve: pve\n"
         "\tcomment Proxmox VE authentication server\n";
}

}  // namespace pvx::auth
