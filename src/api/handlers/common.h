#pragma once
// Shared pieces of handler declarations: directory indexes and the common return shapes.
#include <string>
#include <vector>

#include "api/api_method.h"
#include "api/request_context.h"
#include "api/router.h"
#include "base/error.h"
#include "schema/schema.h"

namespace pvx::api::handlers {

using schema::Json;

// [{"<key>": name}, ...] for a directory-index method.
Json dir_index(const std::vector<std::string>& names, const std::string& key = "subdir");
// The returns schema of such an index: array of objects with one string property and a child link.
schema::Schema dir_index_returns(const std::string& key = "subdir");

// An API parameter value as config text: strings as they are, booleans 1/0, numbers printed.
std::string param_text(const Json& v);

// The version pvx reports where PVE reports pve-manager's.
inline constexpr const char* kPveVersion = "9.1.3";
inline constexpr const char* kPveRelease = "9.1";
const char* repoid();  // short git revision of the build, 8 hex digits

// This node as /nodes and /cluster/resources list it; the usage figures (cpu, mem, disk, ...)
// only when `with_usage` (callers pass whether the user may audit the node).
Json local_node_entry(RequestContext& ctx, bool with_usage);

}  // namespace pvx::api::handlers
