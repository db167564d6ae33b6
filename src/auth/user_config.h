#pragma once
// user.cfg: users, API tokens, groups, pools, custom roles and ACLs, in PVE's line format
// ("user:root@pam:1:0:::::", "acl:1:/vms:@ops:PVEVMUser:", ...).
//
// Parsing is as lenient as PVE's: bad lines are skipped with a warning, and the result always
// holds the built-in roles and an enabled root@pam. Printing follows PVE's write order (users with
// their tokens, groups, pools, custom roles, ACLs grouped per path by propagate flag and role
// list), so print(parse(print(x))) == print(x). Pure data: no I/O, no locking.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "auth/roles.h"

namespace pvx::auth {

struct TokenEntry {
  std::int64_t expire = 0;  // unix time, 0 = never
  bool privsep = true;
  std::string comment;
  bool operator==(const TokenEntry&) const = default;
};

struct UserEntry {
  bool enable = true;
  std::int64_t expire = 0;  // unix time, 0 = never
  std::string firstname, lastname, email, comment;
  std::string keys;  // legacy realm-TFA key ids
  std::map<std::string, TokenEntry, std::less<>> tokens;
  std::set<std::string, std::less<>> groups;  // derived from group lines; not written on user lines
  bool operator==(const UserEntry&) const = default;
};

struct GroupEntry {
  std::set<std::string, std::less<>> users;
  std::string comment;
  bool operator==(const GroupEntry&) const = default;
};

struct PoolEntry {
  std::string comment;
  std::set<std::string, std::less<>> vms;      // vmids as decimal text (PVE sorts them as text)
  std::set<std::string, std::less<>> storage;  // storage ids
  bool operator==(const PoolEntry&) const = default;
};

// role -> propagate, for one member at one path.
using RoleFlags = std::map<std::string, bool, std::less<>>;

// The ACL entries of one path.
struct AclNode {
  std::map<std::string, RoleFlags, std::less<>> users;   // "ana@pve"
  std::map<std::string, RoleFlags, std::less<>> groups;  // "ops" (written as "@ops")
  std::map<std::string, RoleFlags, std::less<>> tokens;  // "ana@pve!ansible"
  bool empty() const { return users.empty() && groups.empty() && tokens.empty(); }
  bool operator==(const AclNode&) const = default;
};

// Orders ACL paths depth-first, component by component, as PVE walks its ACL tree
// ("/vms" < "/vms/100" < "/vms-old").
struct AclPathLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

struct UserConfig {
  std::map<std::string, UserEntry, std::less<>> users;
  std::map<std::string, GroupEntry, std::less<>> groups;
  std::map<std::string, PoolEntry, std::less<>> pools;
  std::map<std::string, PrivSet, std::less<>> roles;  // built-in and custom
  std::map<std::string, AclNode, AclPathLess> acl;    // normalised path -> entries

  const UserEntry* user(std::string_view userid) const;
  // The token of "user@realm!name", or nullptr.
  const TokenEntry* token(std::string_view tokenid) const;
  // Exists, enabled and not expired at `now`. root@pam is always present (implied).
  bool user_active(std::string_view userid, std::int64_t now) const;
  bool operator==(const UserConfig&) const = default;
};

struct UserConfigParse {
  UserConfig config;
  std::vector<std::string> warnings;
};

UserConfigParse parse_user_config(std::string_view text);
std::string print_user_config(const UserConfig& config);

// ---- identifiers (PVE's user_regex / realm_regex) ----
struct UserId {
  std::string name;   // "ana"
  std::string realm;  // "pve"
};
// "name@realm": name without whitespace, ':' or '/', realm [A-Za-z][A-Za-z0-9.-_]+.
std::optional<UserId> split_userid(std::string_view userid);
// "user@realm!token" -> {"user@realm", "token"}; token follows the realm pattern.
std::optional<std::pair<std::string, std::string>> split_tokenid(std::string_view tokenid);
bool is_valid_realm(std::string_view realm);
bool is_valid_role_name(std::string_view role);
bool is_valid_group_name(std::string_view group);

// PVE's ACL path normalisation: "//vms/100/" -> "/vms/100"; nullopt for an empty path or a
// character outside [A-Za-z0-9.-_/].
std::optional<std::string> normalize_acl_path(std::string_view path);

// PVE's encode_text / decode_text for free-text fields: '%', ':' and bytes outside printable
// ASCII become %XX.
std::string encode_text(std::string_view text);
std::string decode_text(std::string_view text);

}  // namespace pvx::auth
