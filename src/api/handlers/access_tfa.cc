// /access/tfa and the per-user TFA calls.
#include "api/handlers/access_common.h"

namespace pvx::api::handlers {

void register_access_tfa(Router&, const ReferenceDeclarations&) {}

}  // namespace pvx::api::handlers
