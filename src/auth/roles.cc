#include "auth/roles.h"

#include <vector>

namespace pvx::auth {
namespace {

struct Category {
  std::string name;  // role infix: PVE<name>Admin, PVE<name>User
  std::vector<std::string> root, admin, user, audit;
};

// PVE 9's tiers. VM.Monitor is gone since PVE 9 (split into VM.GuestAgent.* and Sys.Audit).
const std::vector<Category>& categories() {
  static const std::vector<Category> kCategories = {
      {"VM",
       {},
       {"VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType",
        "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.GuestAgent.Unrestricted", "VM.Migrate",
        "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback"},
       {"VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.Backup", "VM.GuestAgent.FileRead",
        "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.PowerMgmt"},
       {"VM.Audit", "VM.GuestAgent.Audit"}},
      {"Sys",
       {"Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"},
       {"Sys.Console", "Sys.Syslog"},
       {},
       {"Sys.Audit"}},
      {"Datastore",
       {},
       {"Datastore.Allocate", "Datastore.AllocateTemplate"},
       {"Datastore.AllocateSpace"},
       {"Datastore.Audit"}},
      {"SDN", {}, {"SDN.Allocate", "SDN.Audit"}, {"SDN.Use"}, {"SDN.Audit"}},
      {"User", {"Realm.Allocate"}, {"User.Modify", "Group.Allocate", "Realm.AllocateUser"}, {}, {}},
      {"Pool", {}, {"Pool.Allocate"}, {"Pool.Audit"}, {"Pool.Audit"}},
      {"Mapping", {}, {"Mapping.Modify"}, {"Mapping.Use"}, {"Mapping.Audit"}},
  };
  return kCategories;
}

// In no category: only Administrator (and custom roles) carry it.
constexpr const char* kUncategorized[] = {"Permissions.Modify"};

struct Catalog {
  PrivSet privileges;
  std::map<std::string, PrivSet, std::less<>> roles;

  Catalog() {
    for (const char* p : kUncategorized) privileges.insert(p);
    PrivSet& admin = roles["PVEAdmin"];
    PrivSet& auditor = roles["PVEAuditor"];
    for (const auto& c : categories()) {
      for (const auto* tier : {&c.root, &c.admin, &c.user, &c.audit}) privileges.insert(tier->begin(), tier->end());
      PrivSet& cat_admin = roles["PVE" + c.name + "Admin"];
      for (const auto* tier : {&c.admin, &c.user, &c.audit}) {
        cat_admin.insert(tier->begin(), tier->end());
        admin.insert(tier->begin(), tier->end());
      }
      if (!c.user.empty()) {
        PrivSet& cat_user = roles["PVE" + c.name + "User"];
        cat_user.insert(c.user.begin(), c.user.end());
        cat_user.insert(c.audit.begin(), c.audit.end());
      }
      auditor.insert(c.audit.begin(), c.audit.end());
    }
    // Mapping changes stay with Administrator and PVEMappingAdmin.
    admin.erase("Mapping.Modify");
    roles["PVETemplateUser"] = {"VM.Clone", "VM.Audit"};
    roles[std::string(kNoAccessRole)] = {};
    roles[std::string(kAdministratorRole)] = privileges;
  }
};

const Catalog& catalog() {
  static const Catalog kCatalog;
  return kCatalog;
}

}  // namespace

const PrivSet& all_privileges() { return catalog().privileges; }

bool is_valid_privilege(std::string_view priv) { return catalog().privileges.contains(priv); }

const std::map<std::string, PrivSet, std::less<>>& builtin_roles() { return catalog().roles; }

bool is_builtin_role(std::string_view role) { return catalog().roles.contains(role); }

}  // namespace pvx::auth
