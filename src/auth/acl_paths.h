#pragma once
// PVE's check_path: the ACL paths an entry may be added to ("/", "/vms/100", "/storage/local",
// "/pool/lab/ci", "/access/groups/ops", "/sdn/zones/z1/vnet1/100", "/mapping/pci/gpu", ...).
// Removing entries is allowed on any normalised path, so stale ones can be cleaned up.
#include <string_view>

namespace pvx::auth {

bool is_known_acl_path(std::string_view normalized_path);

}  // namespace pvx::auth
