#pragma once
// The two files that hold password and token hashes:
//   priv/shadow.cfg  "<userid>:<crypt hash>:" per line (pve realm passwords), as PVE writes it
//   priv/token.cfg   "<user@realm!token> <crypt hash>" per line, sorted. PVE keeps the plain
//                    token secret there; pvx keeps only its hash, so a leaked store does not
//                    leak usable secrets (a PVE token.cfg therefore does not carry over).
// Unparseable lines are skipped.
#include <map>
#include <string>
#include <string_view>

namespace pvx::auth {

using SecretMap = std::map<std::string, std::string, std::less<>>;  // id -> hash

SecretMap parse_shadow(std::string_view text);
std::string print_shadow(const SecretMap& entries);

SecretMap parse_token_secrets(std::string_view text);
std::string print_token_secrets(const SecretMap& entries);

}  // namespace pvx::auth
