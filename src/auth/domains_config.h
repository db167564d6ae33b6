#pragma once
// domains.cfg, read just far enough to know each realm's type (pam, pve, ldap, ad, openid).
// The full section-config model (for the /access/domains API) belongs to src/config; this small
// reader keeps logins independent of it. pam and pve realms always exist, as in PVE.
#include <map>
#include <string>
#include <string_view>

namespace pvx::auth {

// realm id -> type
std::map<std::string, std::string, std::less<>> parse_realm_types(std::string_view domains_cfg);

// The file PVE creates at first start: the pam and the pve realm with their stock comments.
std::string default_domains_cfg();

}  // namespace pvx::auth
