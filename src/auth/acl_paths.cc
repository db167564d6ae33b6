#include "auth/acl_paths.h"

#include <regex>

namespace pvx::auth {

bool is_known_acl_path(std::string_view path) {
  static const std::regex kPaths(
      R"(/|/access|/access/groups|/access/groups/[A-Za-z0-9._-]+|/access/realm|/access/realm/[A-Za-z0-9._-]+)"
      R"(|/nodes|/nodes/[A-Za-z0-9._-]+|/pool|/pool/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+){0,2})"
      R"(|/sdn|/sdn/(?:controllers|dns|fabrics|ipams|prefix-lists|route-maps|zones))"
      R"(|/sdn/controllers/[A-Za-z0-9_-]+|/sdn/(?:dns|fabrics|ipams|prefix-lists|route-maps)/[A-Za-z0-9]+)"
      R"(|/sdn/zones/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+(?:/[1-9][0-9]{0,3})?)?)"
      R"(|/storage|/storage/[A-Za-z0-9._-]+|/vms|/vms/[1-9][0-9]{2,})"
      R"(|/mapping|/mapping/[A-Za-z0-9._-]+|/mapping/[A-Za-z0-9._-]+/[A-Za-z0-9._-]+)");
  return std::regex_match(path.begin(), path.end(), kPaths);
}

}  // namespace pvx::auth
