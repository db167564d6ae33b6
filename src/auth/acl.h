#pragma once
// Privilege evaluation over a parsed user.cfg, with PVE's semantics:
//
// - The path is walked from "/" down. At each level the most specific kind of entry that applies
//   replaces everything inherited so far: the token's own entries, else the user's, else the
//   union of the user's groups' entries. An entry applies at its own path always, and below it
//   only with propagate=1.
// - NoAccess among the resulting roles masks all others.
// - Pools: roles held on /pool/<pool> apply (without propagation) to its members /vms/<vmid> and
//   /storage/<id>, unless the regular ACL gives NoAccess; a pool NoAccess beats regular roles.
// - root@pam has every privilege; a disabled or expired user (or token owner) has none, and so
//   has an expired or unknown token.
// - Tokens: without privsep a token has exactly its user's privileges; with privsep, the
//   intersection of the user's and the token's own (whose propagate flag is the AND of both).
//   The privsep flag is taken from user.cfg, not from the caller's Identity.
// Pure functions of (config, identity, path, now); thread-safe.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "auth/identity.h"
#include "auth/user_config.h"

namespace pvx::auth {

// privilege -> propagate flag (informational: whether the privilege comes from an entry that
// propagates), as /access/permissions reports it.
using PrivMap = std::map<std::string, bool, std::less<>>;

// PVE's roles(): the roles `authid` ("user@realm" or "user@realm!token") holds on `path` from ACL
// entries alone (no pools, no user-state checks). A non-privsep token gets its user's roles.
RoleFlags acl_roles(const UserConfig& cfg, std::string_view authid, std::string_view path);

// The effective privileges of `who` on `path` (any spelling; normalised here).
PrivMap effective_privileges(const UserConfig& cfg, const Identity& who, std::string_view path, std::int64_t now);
// Whether `who` holds all (or with `any`, one) of `privs` on `path`: effective_privileges'
// answer without building the privilege map (permission checks of listings run it per guest).
bool holds_privileges(const UserConfig& cfg, const Identity& who, std::string_view path,
                      const std::vector<std::string>& privs, bool any, std::int64_t now);

// Every path PVE lists in /access/permissions: the top-level defaults, each ACL path and its
// ancestors, and the /vms and /storage paths of pool members. Sorted as the ACL tree is walked.
std::vector<std::string> permission_paths(const UserConfig& cfg);

// The ACL paths (with ancestors, and "/") that the login "cap" map looks at.
std::vector<std::string> acl_tree_paths(const UserConfig& cfg);

}  // namespace pvx::auth
