#pragma once
// The privilege catalog and the built-in roles of PVE 9 (pve-access-control 9.1).
//
// Privileges come in categories (VM, Sys, Datastore, SDN, User, Pool, Mapping), each split into
// tiers: "root" (only Administrator holds them), "admin", "user" and "audit". The built-in roles
// are derived from the tiers the way PVE derives them, so adding a privilege to a tier puts it
// into every role that should have it:
//   PVE<Cat>Admin = admin + user + audit;  PVE<Cat>User = user + audit (only when user is non-empty)
//   PVEAdmin = every category's admin + user + audit, except Mapping.Modify
//   PVEAuditor = every audit tier;  PVETemplateUser = VM.Clone + VM.Audit
//   Administrator = every privilege;  NoAccess = nothing (and masks everything else on its path)
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace pvx::auth {

using PrivSet = std::set<std::string, std::less<>>;

// Every valid privilege name, sorted.
const PrivSet& all_privileges();
bool is_valid_privilege(std::string_view priv);

// name -> privileges of every built-in role, sorted by name.
const std::map<std::string, PrivSet, std::less<>>& builtin_roles();
bool is_builtin_role(std::string_view role);

inline constexpr std::string_view kNoAccessRole = "NoAccess";
inline constexpr std::string_view kAdministratorRole = "Administrator";

}  // namespace pvx::auth
