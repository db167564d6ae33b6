#include "api/permission_check.h"

#include "auth/auth_service.h"
#include "auth/user_config.h"
#include "base/strings.h"

namespace pvx::api {

std::string privs_text(const std::vector<std::string>& privs, bool any) {
  std::string out;
  for (const auto& p : privs) out += (out.empty() ? "" : any ? " | " : ", ") + p;
  return out;
}

std::string expand_path(const std::string& path_template, const schema::Json& params) {
  std::string out;
  for (size_t i = 0; i < path_template.size();) {
    if (path_template[i] == '{') {
      auto end = path_template.find('}', i);
      if (end != std::string::npos) {
        std::string name = path_template.substr(i + 1, end - i - 1);
        if (params.contains(name)) {
          const auto& v = params[name];
          out += v.is_string() ? v.get<std::string>() : v.dump();
        }
        i = end + 1;
        continue;
      }
    }
    out.push_back(path_template[i++]);
  }
  return out;
}

std::vector<std::string> perm_modify_privileges(std::string_view path) {
  std::vector<std::string> privs = {"Permissions.Modify"};
  auto under = [&](std::string_view prefix) { return path.size() > prefix.size() && path.starts_with(prefix); };
  if (under("/storage/")) privs.push_back("Datastore.Allocate");
  else if (under("/vms/")) privs.push_back("VM.Allocate");
  else if (under("/pool/")) privs.push_back("Pool.Allocate");
  return privs;
}

namespace {

// PVE's "userid-group" check: the privileges on /access/groups, or on the groups concerned.
bool user_group_allowed(const Permission& p, const auth::Identity& who, const schema::Json& params,
                        auth::AuthService& auth) {
  if (auth.check(who, "/access/groups", p.privs, true)) return true;
  std::vector<std::string> groups;
  if (!p.groups_param.empty() && params.contains("groups") && params["groups"].is_string()) {
    groups = split_any(params["groups"].get<std::string>(), ",; ");
    if (groups.empty()) return false;
    for (const auto& g : groups) {
      if (!auth.check(who, "/access/groups/" + g, p.privs, true)) return false;
    }
    return true;
  }
  if (p.groups_param == "create") return false;
  auto cfg = auth.user_config();
  const auth::UserEntry* user = cfg->user(params.value("userid", ""));
  if (!user) return false;
  for (const auto& g : user->groups) {
    if (auth.check(who, "/access/groups/" + g, p.privs, true)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> evaluate(const Permission& p, const auth::Identity& who, const schema::Json& params,
                                    auth::AuthService& auth) {
  using K = Permission::Kind;
  switch (p.kind) {
    case K::World:
    case K::All:
      return std::nullopt;
    case K::Superuser:
      if (who.is_root()) return std::nullopt;
      return std::string("Permission check failed (user != root@pam)");
    case K::UserSelf: {
      auto it = params.find("userid");
      // A token is never "self": it must not manage its own user's tokens (PVE compares with
      // "user@realm!token").
      if (it != params.end() && it->is_string() && it->get<std::string>() == who.full()) return std::nullopt;
      return std::string("Permission check failed (user != userid)");
    }
    case K::UserRealm: {
      std::string userid = params.value("userid", "");
      auto at = userid.rfind('@');
      std::string path = "/access/realm/" + (at == std::string::npos ? "" : userid.substr(at + 1));
      if (auth.check(who, path, p.privs, false)) return std::nullopt;
      return "Permission check failed (" + path + ", " + p.privs.front() + ")";
    }
    case K::UserGroup:
      if (user_group_allowed(p, who, params, auth)) return std::nullopt;
      return "Permission check failed (/access/groups, " + privs_text(p.privs, true) + ")";
    case K::PermModify: {
      std::string path = expand_path(p.path, params);
      if (auth.check(who, path, perm_modify_privileges(path), true)) return std::nullopt;
      return "Permission check failed (" + path + ", Permissions.Modify)";
    }
    case K::Perm: {
      std::string path = expand_path(p.path, params);
      if (auth.check(who, path, p.privs, p.any)) return std::nullopt;
      return "Permission check failed (" + path + ", " + privs_text(p.privs, p.any) + ")";
    }
    case K::And: {
      for (const auto& op : p.operands) {
        if (auto deny = evaluate(op, who, params, auth)) return deny;
      }
      return std::nullopt;
    }
    case K::Or: {
      std::optional<std::string> first;
      for (const auto& op : p.operands) {
        auto deny = evaluate(op, who, params, auth);
        if (!deny) return std::nullopt;
        if (!first) first = deny;
      }
      return first.value_or("Permission check failed");
    }
  }
  return std::string("Permission check failed");
}

}  // namespace pvx::api
