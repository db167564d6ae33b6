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
    And,
    Or,
  };
  Kind kind = Kind::All;
  std::string path;                // Perm
  std::vector<std::string> privs;  // Perm
  bool any = false;                // Perm: one of privs suffices
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
Permission any_of(std::vector<Permission> ops);
Permission all_of(std::vector<Permission> ops);

}  // namespace pvx::api
