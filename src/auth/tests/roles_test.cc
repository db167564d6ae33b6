#include <gtest/gtest.h>

#include "auth/roles.h"

namespace pvx::auth {
namespace {

PrivSet role(const std::string& name) { return builtin_roles().at(name); }

TEST(Roles, BuiltinRoleNamesMatchPve9) {
  std::vector<std::string> names;
  for (const auto& [name, privs] : builtin_roles()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "Administrator", "NoAccess", "PVEAdmin", "PVEAuditor", "PVEDatastoreAdmin", "PVEDatastoreUser",
                       "PVEMappingAdmin", "PVEMappingUser", "PVEPoolAdmin", "PVEPoolUser", "PVESDNAdmin", "PVESDNUser",
                       "PVESysAdmin", "PVETemplateUser", "PVEUserAdmin", "PVEVMAdmin", "PVEVMUser"}));
}

TEST(Roles, AdministratorHoldsEveryPrivilegeOfPve9) {
  const PrivSet expected = {
      "Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
      "Group.Allocate", "Mapping.Audit", "Mapping.Modify", "Mapping.Use", "Permissions.Modify", "Pool.Allocate",
      "Pool.Audit", "Realm.Allocate", "Realm.AllocateUser", "SDN.Allocate", "SDN.Audit", "SDN.Use",
      "Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt", "Sys.Syslog",
      "User.Modify", "VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU",
      "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory", "VM.Config.Network",
      "VM.Config.Options", "VM.Console", "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead",
      "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.GuestAgent.Unrestricted", "VM.Migrate",
      "VM.PowerMgmt", "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback"};
  EXPECT_EQ(all_privileges(), expected);
  EXPECT_EQ(role("Administrator"), expected);
  EXPECT_FALSE(is_valid_privilege("VM.Monitor"));  // removed in PVE 9
  EXPECT_TRUE(role("NoAccess").empty());
}

TEST(Roles, AuditorHasOnlyAuditPrivileges) {
  EXPECT_EQ(role("PVEAuditor"), (PrivSet{"Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit", "Sys.Audit",
                                         "VM.Audit", "VM.GuestAgent.Audit"}));
}

TEST(Roles, VmUserCanUseButNotAllocate) {
  EXPECT_EQ(role("PVEVMUser"),
            (PrivSet{"VM.Audit", "VM.Backup", "VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console",
                     "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt",
                     "VM.GuestAgent.FileWrite", "VM.PowerMgmt"}));
  EXPECT_FALSE(role("PVEVMUser").contains("VM.Allocate"));
  EXPECT_EQ(role("PVEVMAdmin").size(), 23u);
  EXPECT_TRUE(role("PVEVMAdmin").contains("VM.Replicate"));
  EXPECT_TRUE(role("PVEVMAdmin").contains("VM.GuestAgent.Unrestricted"));
}

TEST(Roles, AdminRolesLeaveRootPrivilegesOut) {
  PrivSet admin = role("PVEAdmin");
  for (const char* p : {"Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork", "Realm.Allocate",
                        "Permissions.Modify", "Mapping.Modify"}) {
    EXPECT_FALSE(admin.contains(p)) << p;
  }
  for (const char* p : {"Sys.Console", "Sys.Syslog", "Sys.Audit", "SDN.Use", "Mapping.Use", "Pool.Allocate",
                        "User.Modify", "Datastore.Allocate", "VM.Allocate"}) {
    EXPECT_TRUE(admin.contains(p)) << p;
  }
  EXPECT_EQ(admin.size(), 40u);
}

TEST(Roles, CategoryRoles) {
  EXPECT_EQ(role("PVESysAdmin"), (PrivSet{"Sys.Audit", "Sys.Console", "Sys.Syslog"}));
  EXPECT_EQ(role("PVEDatastoreUser"), (PrivSet{"Datastore.AllocateSpace", "Datastore.Audit"}));
  EXPECT_EQ(role("PVEDatastoreAdmin"), (PrivSet{"Datastore.Allocate", "Datastore.AllocateSpace",
                                                "Datastore.AllocateTemplate", "Datastore.Audit"}));
  EXPECT_EQ(role("PVESDNUser"), (PrivSet{"SDN.Audit", "SDN.Use"}));
  EXPECT_EQ(role("PVESDNAdmin"), (PrivSet{"SDN.Allocate", "SDN.Audit", "SDN.Use"}));
  EXPECT_EQ(role("PVEUserAdmin"), (PrivSet{"Group.Allocate", "Realm.AllocateUser", "User.Modify"}));
  EXPECT_EQ(role("PVEPoolAdmin"), (PrivSet{"Pool.Allocate", "Pool.Audit"}));
  EXPECT_EQ(role("PVEPoolUser"), (PrivSet{"Pool.Audit"}));
  EXPECT_EQ(role("PVEMappingAdmin"), (PrivSet{"Mapping.Audit", "Mapping.Modify", "Mapping.Use"}));
  EXPECT_EQ(role("PVEMappingUser"), (PrivSet{"Mapping.Audit", "Mapping.Use"}));
  EXPECT_EQ(role("PVETemplateUser"), (PrivSet{"VM.Audit", "VM.Clone"}));
  EXPECT_FALSE(is_builtin_role("PVESysUser"));  // Sys has no user tier
}

}  // namespace
}  // namespace pvx::auth
