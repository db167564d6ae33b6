// ACL evaluation tables in the spirit of the pveum "Permission Management" examples.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "auth/acl.h"
#include "auth/capabilities.h"

namespace pvx::auth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

constexpr const char* kConfig = R"(
user:joe@pve:1:0::::::
user:max@pve:1:0::::::
user:alex@pve:1:0::::::
user:sue@pve:1:0::::::
user:dis@pve:0:0::::::
user:old@pve:1:1000::::::
token:max@pve!sep:0:1::
token:max@pve!full:0:0::
token:max@pve!gone:1000:1::
group:admins:dis@pve,joe@pve,max@pve,old@pve,sue@pve:
group:blocked:sue@pve:
pool:lab::300,301:nfs1:
pool:dark::400::
role:Customer:VM.Audit,VM.PowerMgmt:
acl:1:/vms:@admins:PVEVMAdmin:
acl:1:/vms/100:max@pve:Customer:
acl:1:/vms/200:@blocked:NoAccess:
acl:0:/storage:alex@pve:PVEDatastoreUser:
acl:1:/pool/lab:alex@pve:PVEVMUser:
acl:1:/pool/dark:joe@pve:NoAccess:
acl:1:/vms:max@pve!sep:PVEVMUser:
acl:1:/vms/100:max@pve!sep:PVEVMAdmin:
acl:1:/sdn/zones/z1:alex@pve:PVESDNUser:
)";

class AclTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parsed = parse_user_config(kConfig);
    ASSERT_TRUE(parsed.warnings.empty()) << parsed.warnings.front();
    cfg_ = parsed.config;
  }
  PrivSet privs(const Identity& who, const std::string& path) {
    PrivSet out;
    for (const auto& [p, propagate] : effective_privileges(cfg_, who, path, kNow)) out.insert(p);
    return out;
  }
  PrivSet user(const std::string& u, const std::string& path) { return privs(Identity{.user = u}, path); }
  PrivSet token(const std::string& u, const std::string& t, const std::string& path) {
    return privs(Identity{.user = u, .token = t, .privsep = true}, path);
  }
  UserConfig cfg_;
};

PrivSet role(const char* name) { return builtin_roles().at(name); }

struct Case {
  const char* user;
  const char* path;
  PrivSet expected;
};

TEST_F(AclTest, UserAndGroupTable) {
  const PrivSet vm_admin = role("PVEVMAdmin");
  const std::vector<Case> cases = {
      // Group grant on /vms propagates to every VM.
      {"joe@pve", "/", {}},
      {"joe@pve", "/vms", vm_admin},
      {"joe@pve", "/vms/101", vm_admin},
      {"joe@pve", "/vms//101/", vm_admin},  // any spelling of the path
      // A user entry at a deeper path replaces what the group gave.
      {"max@pve", "/vms/100", {"VM.Audit", "VM.PowerMgmt"}},
      {"max@pve", "/vms/101", vm_admin},
      {"joe@pve", "/vms/100", vm_admin},
      // NoAccess for one group at /vms/200 masks the propagated admin role of the other.
      {"sue@pve", "/vms/200", {}},
      {"sue@pve", "/vms/201", vm_admin},
      {"joe@pve", "/vms/200", vm_admin},
      // propagate=0: the entry holds on its own path only.
      {"alex@pve", "/storage", {"Datastore.AllocateSpace", "Datastore.Audit"}},
      {"alex@pve", "/storage/local", {}},
      // Pools give their members' paths the pool's roles; a pool NoAccess beats regular roles.
      {"alex@pve", "/vms/300", role("PVEVMUser")},
      {"alex@pve", "/vms/302", {}},
      {"joe@pve", "/vms/400", {}},
      {"joe@pve", "/vms/401", vm_admin},
      // Disabled or expired users have nothing, whatever their groups say.
      {"dis@pve", "/vms", {}},
      {"old@pve", "/vms", {}},
      {"nobody@pve", "/vms", {}},
      // root@pam has everything, everywhere.
      {"root@pam", "/", all_privileges()},
      {"root@pam", "/vms/999", all_privileges()},
  };
  for (const auto& c : cases) EXPECT_EQ(user(c.user, c.path), c.expected) << c.user << " on " << c.path;
}

TEST_F(AclTest, PropagateFlagsAreReported) {
  auto joe = effective_privileges(cfg_, Identity{.user = "joe@pve"}, "/vms/101", kNow);
  EXPECT_TRUE(joe.at("VM.Allocate"));
  auto alex = effective_privileges(cfg_, Identity{.user = "alex@pve"}, "/storage", kNow);
  EXPECT_FALSE(alex.at("Datastore.Audit"));
  auto pool = effective_privileges(cfg_, Identity{.user = "alex@pve"}, "/vms/300", kNow);
  EXPECT_FALSE(pool.at("VM.Audit"));  // pool-derived roles never propagate
}

TEST_F(AclTest, AclRolesFollowsPveRolesFunction) {
  EXPECT_EQ(acl_roles(cfg_, "max@pve", "/vms"), (RoleFlags{{"PVEVMAdmin", true}}));
  EXPECT_EQ(acl_roles(cfg_, "max@pve", "/vms/100"), (RoleFlags{{"Customer", true}}));
  EXPECT_EQ(acl_roles(cfg_, "sue@pve", "/vms/200"), (RoleFlags{{"NoAccess", true}}));
  EXPECT_EQ(acl_roles(cfg_, "alex@pve", "/storage/x"), RoleFlags{});
  EXPECT_EQ(acl_roles(cfg_, "max@pve!full", "/vms/100"), (RoleFlags{{"Customer", true}}));
  EXPECT_EQ(acl_roles(cfg_, "max@pve!sep", "/vms/100"), (RoleFlags{{"PVEVMAdmin", true}}));
}

TEST_F(AclTest, TokensWithoutPrivsepActAsTheirUser) {
  EXPECT_EQ(token("max@pve", "full", "/vms/100"), user("max@pve", "/vms/100"));
  EXPECT_EQ(token("max@pve", "full", "/vms/101"), user("max@pve", "/vms/101"));
}

TEST_F(AclTest, PrivsepTokensGetTheIntersection) {
  // Token: PVEVMUser on /vms; user: PVEVMAdmin via group -> PVEVMUser.
  EXPECT_EQ(token("max@pve", "sep", "/vms/101"), role("PVEVMUser"));
  // Token: PVEVMAdmin on /vms/100; user: only Customer there.
  EXPECT_EQ(token("max@pve", "sep", "/vms/100"), (PrivSet{"VM.Audit", "VM.PowerMgmt"}));
  EXPECT_EQ(token("max@pve", "sep", "/"), PrivSet{});
  // user.cfg decides about privilege separation, not the caller's Identity.
  EXPECT_EQ(privs(Identity{.user = "max@pve", .token = "sep", .privsep = false}, "/vms/101"), role("PVEVMUser"));
}

TEST_F(AclTest, ExpiredOrUnknownTokensHaveNothing) {
  EXPECT_EQ(token("max@pve", "gone", "/vms/101"), PrivSet{});
  EXPECT_EQ(token("max@pve", "nope", "/vms/101"), PrivSet{});
  EXPECT_EQ(token("dis@pve", "x", "/vms/101"), PrivSet{});
}

TEST_F(AclTest, PermissionPathsIncludeAncestorsAndPoolMembers) {
  auto paths = permission_paths(cfg_);
  for (const char* p : {"/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms", "/vms/100",
                        "/pool/lab", "/sdn/zones", "/sdn/zones/z1", "/vms/300", "/vms/301", "/storage/nfs1"}) {
    EXPECT_NE(std::find(paths.begin(), paths.end(), p), paths.end()) << p;
  }
  EXPECT_EQ(paths.front(), "/");
}

TEST_F(AclTest, PermissionsJsonShape) {
  auto all = permissions_json(cfg_, Identity{.user = "alex@pve"}, std::nullopt, kNow);
  EXPECT_EQ(all["/storage"]["Datastore.Audit"], 0);
  EXPECT_EQ(all["/sdn/zones/z1"]["SDN.Use"], 1);
  EXPECT_EQ(all["/vms/300"]["VM.Console"], 0);
  EXPECT_FALSE(all.contains("/vms"));  // paths without privileges are left out
  auto one = permissions_json(cfg_, Identity{.user = "alex@pve"}, "/vms", kNow);
  EXPECT_EQ(one, nlohmann::json({{"/vms", nlohmann::json::object()}}));
}

TEST_F(AclTest, CapabilitiesForRootAndForAUser) {
  auto root = capabilities_json(cfg_, Identity{.user = "root@pam"}, kNow);
  for (const char* area : {"vms", "storage", "access", "nodes", "dc", "sdn", "mapping"}) {
    ASSERT_TRUE(root.contains(area)) << area;
  }
  EXPECT_EQ(root["vms"]["VM.Allocate"], 1);
  EXPECT_EQ(root["vms"]["Permissions.Modify"], 1);
  EXPECT_EQ(root["nodes"]["Sys.PowerMgmt"], 1);
  EXPECT_EQ(root["access"]["User.Modify"], 1);
  EXPECT_EQ(root["dc"]["Sys.Audit"], 1);
  EXPECT_EQ(root["dc"]["SDN.Use"], 1);
  EXPECT_FALSE(root["dc"].contains("Sys.Console"));
  EXPECT_EQ(root["mapping"]["Mapping.Modify"], 1);

  auto alex = capabilities_json(cfg_, Identity{.user = "alex@pve"}, kNow);
  EXPECT_EQ(alex["storage"]["Datastore.AllocateSpace"], 1);
  EXPECT_EQ(alex["vms"]["VM.Console"], 1);      // from /pool/lab
  EXPECT_EQ(alex["sdn"]["SDN.Use"], 1);         // from /sdn/zones/z1
  EXPECT_TRUE(alex["nodes"].empty());
  EXPECT_TRUE(alex["dc"].empty());
}

}  // namespace
}  // namespace pvx::auth
