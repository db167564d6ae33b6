#pragma once
// What the access-control handlers (access_*.cc, pools.cc) share: their declarations, taken from
// PVE's own (access_api.json through reference_method), and small helpers.
#include <string>
#include <string_view>

#include "api/handlers/common.h"
#include "api/reference_method.h"

namespace pvx::auth { struct UserConfig; struct UserEntry; }

namespace pvx::api::handlers {

extern const std::string_view kAccessApiJson;  // access_api.json, embedded by cmake/embed_text.cmake

void register_access_users(Router& r, const ReferenceDeclarations& decl);    // users, tokens
void register_access_groups(Router& r, const ReferenceDeclarations& decl);
void register_access_roles(Router& r, const ReferenceDeclarations& decl);
void register_access_acl(Router& r, const ReferenceDeclarations& decl);
void register_access_domains(Router& r, const ReferenceDeclarations& decl);  // realms and sync
void register_access_tfa(Router& r, const ReferenceDeclarations& decl);     // /access/tfa, users' tfa
void register_access_openid(Router& r, const ReferenceDeclarations& decl);
void register_pools(Router& r, const ReferenceDeclarations& decl);

// The user or a 500 "no such user ('x')" as PVE answers.
const auth::UserEntry& find_user(const auth::UserConfig& cfg, const std::string& userid);

// PVE's reauth_user_for_user_modification: `userid` must exist; only root@pam may modify
// root@pam; callers other than root@pam must confirm with their own password (first factor
// only) in parameter `param`. Returns `userid`.
std::string reauth_for_user_modification(RequestContext& ctx, const std::string& userid, const std::string& param);

// "a,b c;d" -> {"a","b","c","d"} (PVE's split_list), without empty items.
std::vector<std::string> id_list(std::string_view text);

}  // namespace pvx::api::handlers
