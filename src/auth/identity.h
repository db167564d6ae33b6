#pragma once
// Who is calling: a user, or one of a user's API tokens.
#include <string>

namespace pvx::auth {

struct Identity {
  std::string user;   // "root@pam"
  std::string token;  // token name ("automation"), empty for a user session
  bool privsep = false;  // token with privilege separation: rights = user's ∩ token's ACLs

  bool is_token() const { return !token.empty(); }
  // "user@realm" or "user@realm!token": the form in UPIDs and ACL entries.
  std::string full() const { return token.empty() ? user : user + "!" + token; }
  bool is_root() const { return user == "root@pam" && token.empty(); }
};

}  // namespace pvx::auth
