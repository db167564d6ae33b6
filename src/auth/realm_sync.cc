#include "auth/realm_sync.h"

#include <nlohmann/json.hpp>

#include "auth/auth_service.h"
#include "auth/domains_config.h"
#include "base/error.h"

namespace pvx::auth {

RealmSyncRequest sync_options(const Realm&, const nlohmann::json&) { throw Error("realm sync is not built yet", 501); }
void run_realm_sync(AuthService&, const Realm&, const RealmSyncRequest&, const std::function<void(std::string_view)>&) {}
void realm_check_connection(const Realm&, const std::optional<std::string>&) {}
bool realm_check_password(const Realm&, const std::optional<std::string>&, const std::string&, const std::string&) {
  return false;
}

}  // namespace pvx::auth
