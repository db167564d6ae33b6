#include "api/permission.h"

#include <nlohmann/json.hpp>

namespace pvx::api {

Permission world() { return Permission{.kind = Permission::Kind::World}; }
Permission all() { return Permission{.kind = Permission::Kind::All}; }
Permission superuser() { return Permission{.kind = Permission::Kind::Superuser}; }
Permission perm(std::string path, std::vector<std::string> privs, bool any) {
  return Permission{.kind = Permission::Kind::Perm, .path = std::move(path), .privs = std::move(privs), .any = any};
}
Permission userid_self() { return Permission{.kind = Permission::Kind::UserSelf}; }
Permission userid_realm(std::string priv) {
  return Permission{.kind = Permission::Kind::UserRealm, .privs = {std::move(priv)}};
}
Permission userid_group(std::vector<std::string> privs, std::string groups_param) {
  return Permission{.kind = Permission::Kind::UserGroup, .privs = std::move(privs),
                    .groups_param = std::move(groups_param)};
}
Permission perm_modify(std::string path) {
  return Permission{.kind = Permission::Kind::PermModify, .path = std::move(path)};
}
Permission any_of(std::vector<Permission> ops) {
  return Permission{.kind = Permission::Kind::Or, .operands = std::move(ops)};
}
Permission all_of(std::vector<Permission> ops) {
  return Permission{.kind = Permission::Kind::And, .operands = std::move(ops)};
}

namespace {

nlohmann::json check_expr(const Permission& p) {
  using K = Permission::Kind;
  switch (p.kind) {
    case K::Perm: {
      nlohmann::json c = {"perm", p.path, p.privs};
      if (p.any) {
        c.push_back("any");
        c.push_back(1);
      }
      return c;
    }
    case K::UserSelf:
      return {"userid-param", "self"};
    case K::UserRealm:
      return {"userid-param", p.privs.front()};
    case K::UserGroup: {
      nlohmann::json c = {"userid-group", p.privs};
      if (!p.groups_param.empty()) {
        c.push_back("groups_param");
        c.push_back(p.groups_param);
      }
      return c;
    }
    case K::PermModify:
      return {"perm-modify", p.path};
    case K::And:
    case K::Or: {
      nlohmann::json c = {p.kind == K::And ? "and" : "or"};
      for (const auto& op : p.operands) c.push_back(check_expr(op));
      return c;
    }
    default:
      return nullptr;
  }
}

}  // namespace

nlohmann::json Permission::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  switch (kind) {
    case Kind::World: out["user"] = "world"; break;
    case Kind::All: out["user"] = "all"; break;
    case Kind::Superuser: out["user"] = "root"; break;
    default: out["check"] = check_expr(*this); break;
  }
  if (!description.empty()) out["description"] = description;
  return out;
}

}  // namespace pvx::api
