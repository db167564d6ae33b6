#pragma once
// Permission expressions as PVE declares them beside each API method, evaluated by the dispatch
// before the handler runs. Paths are templates: "/vms/{vmid}" takes the request's parameters.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace pvx::api {

struct Permission {
  enum class Kind {
    World,      // no authentication needed ("user": "world")
    All,        // any authenticated user; the handler filters ("user": "all")
    Superuser,  // root@pam only
    Perm,       // privileges on a path: ["perm", path, [privs], "any", 1]
    UserSelf,   // ["userid-param", "self"]: the request's userid is the caller
    UserRealm,  // ["userid-param", priv]: privs on /access/realm/<realm of the userid parameter>
    UserGroup,  // ["userid-group", [privs], "groups_param", mode]: privs on /access/groups, or on
                // every group named in `groups` (mode "create"/"update"), or on a group of the user
    PermModify,  // ["perm-modify", path]: Permissions.Modify on the path, or the allocate privilege
                 // of its kind (VM.Allocate on /vms/<id>, Datastore.Allocate, Pool.Allocate)
    And,
    Or,
  };
  Kind kind = Kind::All;
  std::string path;                // Perm
  std::vector<std::string> privs;  // Perm
  bool any = false;                // Perm: one of privs suffices
  std::string groups_param;        // UserGroup: "create" or "update" when `groups` is considered
  std::vector<Permission> operands;  // And / Or
  std::string description;

  // PVE's JSON form: {"check": [...]} or {"user": "all"}, with "description" when set.
  nlohmann::json to_json() const;
  Permission&& describe(std::string d) && { description = std::move(d); return std::move(*this); }
};

Permission world();
Permission all();
Permission superuser();
Permission perm(std::string path, std::vector<std::string> privs, bool any = false);
Permission userid_self();
Permission userid_realm(std::string priv);
Permission userid_group(std::vector<std::string> privs, std::string groups_param = {});
Permission perm_modify(std::string path);
Permission any_of(std::vector<Permission> ops);
Permission all_of(std::vector<Permission> ops);

}  // namespace pvx::api
