#pragma once
// The JSON views of effective privileges that the API returns: /access/permissions and the "cap"
// map of a login answer (PVE's get_effective_permissions and compute_api_permission).
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "auth/identity.h"
#include "auth/user_config.h"

namespace pvx::auth {

// {path: {priv: 0|1}}: for one path when given (even when empty), else every path of
// permission_paths() on which `who` holds at least one privilege.
nlohmann::json permissions_json(const UserConfig& cfg, const Identity& who, const std::optional<std::string>& path,
                                std::int64_t now);

// {"vms": {...}, "storage": {...}, "access": {...}, "nodes": {...}, "dc": {...}, "sdn": {...},
//  "mapping": {...}}: for each area, the privileges of that area held on its top-level path, on
// "/" (the "dc" area) or on any ACL path below, each as 1.
nlohmann::json capabilities_json(const UserConfig& cfg, const Identity& who, std::int64_t now);

}  // namespace pvx::auth
