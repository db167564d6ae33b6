#include "auth/tfa_login.h"

#include "auth/domains_config.h"
#include "auth/user_config.h"
#include "base/error.h"
#include "cluster/config_store.h"

namespace pvx::auth {

std::optional<std::string> tfa_login_challenge(cluster::ConfigStore&, const std::string&, const UserEntry&,
                                               const Realm&, const std::optional<std::string>&, std::int64_t) {
  return std::nullopt;
}

void tfa_login_verify(cluster::ConfigStore&, const std::string&, const UserEntry&, const Realm&, const std::string&,
                      const std::string&, std::int64_t) {
  throw Error("no such challenge");
}

std::pair<std::int64_t, bool> tfa_user_lock_state(cluster::ConfigStore&, const std::string&) { return {0, false}; }

void tfa_forget_user(cluster::ConfigStore&, const std::string&) {}

}  // namespace pvx::auth
