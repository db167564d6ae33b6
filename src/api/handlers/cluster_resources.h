#pragma once
// The entries of /cluster/resources the caller may see (nodes, guests with their pool, storages,
// pools), optionally of one type ("vm", "storage", "node", "pool"). The pool endpoints list their
// members from it.
#include <optional>
#include <string>

#include "api/handlers/common.h"

namespace pvx::api::handlers {

Json cluster_resources(RequestContext& ctx, const std::optional<std::string>& type);

}  // namespace pvx::api::handlers
