#pragma once
// domains.cfg: the authentication realms (PVE's section-config format):
//
//   pam: pam
//   	comment Linux PAM standard authentication
//
//   ldap: corp
//   	base_dn ou=people,dc=example,dc=com
//   	server1 ldap.example.com
//   	user_attr uid
//
// Values are kept as text (the API validated them against the method's schema before they got
// here); `comment` is stored encoded (encode_text). The pam and pve realms always exist, as in PVE.
// Printing writes the sections in order, each with `comment` first and the other keys sorted,
// so parse(print(x)) == x. Pure data: no I/O.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::auth {

struct Realm {
  std::string type;  // pam, pve, ldap, ad, openid
  std::string id;
  std::map<std::string, std::string, std::less<>> values;  // key -> text (comment decoded)

  std::optional<std::string> get(std::string_view key) const;
  // A boolean key: "1"/"0" (missing = `fallback`).
  bool flag(std::string_view key, bool fallback) const;
  bool operator==(const Realm&) const = default;
};

struct RealmList {
  std::vector<Realm> realms;
  const Realm* find(std::string_view id) const;
  Realm* find(std::string_view id);
  bool operator==(const RealmList&) const = default;
};

RealmList parse_domains_cfg(std::string_view text);
std::string print_domains_cfg(const RealmList& list);

// realm id -> type
std::map<std::string, std::string, std::less<>> parse_realm_types(std::string_view domains_cfg);

// The file PVE creates at first start: the pam and the pve realm with their stock comments.
std::string default_domains_cfg();

// The keys each realm type accepts (PVE's plugin options), and the ones that cannot change after
// creation ("fixed" in PVE). `password` is not stored in domains.cfg but in priv/realm/<id>.pw.
const std::vector<std::string>* realm_type_keys(std::string_view type);
bool realm_key_fixed(std::string_view type, std::string_view key);

}  // namespace pvx::auth
