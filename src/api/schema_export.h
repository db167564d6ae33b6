#pragma once
// Documents derived from the method table: the PVE-style schema dump (`pvx schema dump`, the
// shape of PVE's apidoc, compared by shared/tools/api-compat) and the OpenAPI 3.1 document
// (`pvx schema openapi`, GET /api2/openapi.json).
#include <nlohmann/json.hpp>

namespace pvx::api {

class Router;

nlohmann::json schema_dump(const Router& router);
nlohmann::json openapi_document(const Router& router);

}  // namespace pvx::api
