// /access/openid.
#include "api/handlers/access_common.h"

namespace pvx::api::handlers {

void register_access_openid(Router&, const ReferenceDeclarations&) {}

}  // namespace pvx::api::handlers
