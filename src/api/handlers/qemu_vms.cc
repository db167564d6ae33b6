// Placeholder until the VM work lands: registers nothing yet.
#include "api/handlers/register.h"

namespace pvx::api::handlers {
void register_qemu_vms(Router&) {}
}  // namespace pvx::api::handlers
