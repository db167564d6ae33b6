// ACL evaluation speed: a user.cfg with 1 000 users, 100 groups and 10 000 ACL entries (on
// /vms/<id>, /storage/<id>, /pool/<id> and a few top-level paths, for users, groups and tokens),
// and privilege checks of random users and tokens on random guest and storage paths, as the
// dispatch runs them for every request and list filters run them per guest.
// Prints one JSON object: {"checks": N, "ns_per_check": ..., "entries": ..., "users": ..., "groups": ...}.
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "auth/acl.h"
#include "auth/user_config.h"

namespace {

using pvx::auth::UserConfig;

UserConfig build_config(std::mt19937& rng) {
  UserConfig cfg;
  const std::vector<std::string> roles = {"PVEVMUser", "PVEVMAdmin", "PVEAuditor", "PVEDatastoreUser", "NoAccess"};
  for (int i = 0; i < 1000; ++i) {
    auto& u = cfg.users["user" + std::to_string(i) + "@pve"];
    u.tokens["t"] = pvx::auth::TokenEntry{.privsep = true};
  }
  for (int g = 0; g < 100; ++g) cfg.groups["group" + std::to_string(g)];
  // Each user in three groups.
  for (int i = 0; i < 1000; ++i) {
    const std::string uid = "user" + std::to_string(i) + "@pve";
    for (int k = 0; k < 3; ++k) {
      const std::string g = "group" + std::to_string((i * 7 + k * 31) % 100);
      cfg.groups[g].users.insert(uid);
      cfg.users[uid].groups.insert(g);
    }
  }
  for (int p = 0; p < 50; ++p) {
    auto& pool = cfg.pools["pool" + std::to_string(p)];
    for (int v = 0; v < 20; ++v) pool.vms.insert(std::to_string(100 + p * 20 + v));
  }
  for (const auto& [name, privs] : pvx::auth::builtin_roles()) cfg.roles[name] = privs;
  std::uniform_int_distribution<int> user(0, 999), group(0, 99), vm(100, 2099), storage(0, 199), pool(0, 49),
      role(0, static_cast<int>(roles.size()) - 1), kind(0, 9);
  int entries = 0;
  while (entries < 10000) {
    std::string path;
    switch (kind(rng) % 4) {
      case 0: case 1: path = "/vms/" + std::to_string(vm(rng)); break;
      case 2: path = "/storage/s" + std::to_string(storage(rng)); break;
      default: path = "/pool/pool" + std::to_string(pool(rng)); break;
    }
    auto& node = cfg.acl[path];
    const std::string r = roles[role(rng)];
    const int k = kind(rng);
    if (k < 5) node.users["user" + std::to_string(user(rng)) + "@pve"][r] = true;
    else if (k < 9) node.groups["group" + std::to_string(group(rng))][r] = true;
    else node.tokens["user" + std::to_string(user(rng)) + "@pve!t"][r] = true;
    ++entries;
  }
  cfg.acl["/"].groups["group0"]["PVEAuditor"] = true;
  cfg.acl["/vms"].groups["group1"]["PVEVMUser"] = true;
  cfg.acl["/storage"].groups["group2"]["PVEDatastoreUser"] = true;
  return cfg;
}

}  // namespace

int main() {
  std::mt19937 rng(42);
  UserConfig cfg = build_config(rng);
  std::uniform_int_distribution<int> user(0, 999), vm(100, 2099), storage(0, 199), coin(0, 3);
  struct Check {
    pvx::auth::Identity who;
    std::string path;
    std::vector<std::string> privs;
  };
  std::vector<Check> checks;
  for (int i = 0; i < 20000; ++i) {
    const std::string uid = "user" + std::to_string(user(rng)) + "@pve";
    pvx::auth::Identity who = coin(rng) == 0 ? pvx::auth::Identity{.user = uid, .token = "t", .privsep = true}
                                             : pvx::auth::Identity{.user = uid};
    if (coin(rng) < 3) {
      checks.push_back({who, "/vms/" + std::to_string(vm(rng)), {"VM.PowerMgmt"}});
    } else {
      checks.push_back({who, "/storage/s" + std::to_string(storage(rng)), {"Datastore.AllocateSpace"}});
    }
  }
  std::size_t allowed = 0;
  // One warm-up pass, then the measured passes.
  for (const auto& c : checks) allowed += pvx::auth::holds_privileges(cfg, c.who, c.path, c.privs, false, 0);
  const int passes = 10;
  auto start = std::chrono::steady_clock::now();
  for (int p = 0; p < passes; ++p) {
    for (const auto& c : checks) allowed += pvx::auth::holds_privileges(cfg, c.who, c.path, c.privs, false, 0);
  }
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  const double n = static_cast<double>(checks.size()) * passes;
  std::printf("{\"checks\": %.0f, \"ns_per_check\": %.1f, \"allowed_share\": %.3f, \"entries\": 10000, "
              "\"users\": 1000, \"groups\": 100}\n",
              n, static_cast<double>(ns) / n, static_cast<double>(allowed) / (n + checks.size()));
  return 0;
}
