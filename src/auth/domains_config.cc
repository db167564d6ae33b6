#include "auth/domains_config.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "auth/user_config.h"
#include "base/strings.h"

namespace pvx::auth {

std::optional<std::string> Realm::get(std::string_view key) const {
  auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

bool Realm::flag(std::string_view key, bool fallback) const {
  auto v = get(key);
  if (!v) return fallback;
  return *v == "1" || *v == "true" || *v == "yes" || *v == "on";
}

const Realm* RealmList::find(std::string_view id) const {
  for (const auto& r : realms) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

Realm* RealmList::find(std::string_view id) {
  for (auto& r : realms) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

namespace {

constexpr std::string_view kDefaultPamComment = "Linux PAM standard authentication";
constexpr std::string_view kDefaultPveComment = "Proxmox VE authentication server";

void ensure_builtin(RealmList& list) {
  if (!list.find("pve")) list.realms.insert(list.realms.begin(), Realm{"pve", "pve", {{"comment", std::string(kDefaultPveComment)}}});
  if (!list.find("pam")) list.realms.insert(list.realms.begin(), Realm{"pam", "pam", {{"comment", std::string(kDefaultPamComment)}}});
}

}  // namespace

RealmList parse_domains_cfg(std::string_view text) {
  RealmList out;
  Realm* current = nullptr;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) {
      current = nullptr;
      continue;
    }
    if (line.front() == '#') continue;
    // Section headers start in column 0: "<type>: <id>"; keys are indented.
    if (!std::isspace(static_cast<unsigned char>(line.front()))) {
      current = nullptr;
      auto colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string type(trim(line.substr(0, colon))), id(trim(line.substr(colon + 1)));
      if (type.empty() || !is_valid_realm(id) || out.find(id)) continue;
      out.realms.push_back(Realm{type, id, {}});
      current = &out.realms.back();
      continue;
    }
    if (!current) continue;
    std::string_view kv = trim(line);
    auto sp = kv.find_first_of(" \t");
    std::string key(kv.substr(0, sp));
    std::string value(sp == std::string_view::npos ? std::string_view("1") : trim(kv.substr(sp + 1)));
    if (key == "comment") value = decode_text(value);
    current->values[key] = value;
  }
  ensure_builtin(out);
  return out;
}

std::string print_domains_cfg(const RealmList& list) {
  std::string out;
  for (const auto& r : list.realms) {
    out += r.type + ": " + r.id + "\n";
    if (auto c = r.get("comment"); c && !c->empty()) out += "\tcomment " + encode_text(*c) + "\n";
    for (const auto& [k, v] : r.values) {
      if (k == "comment" || v.empty()) continue;
      out += "\t" + k + " " + v + "\n";
    }
    out += "\n";
  }
  return out;
}

std::map<std::string, std::string, std::less<>> parse_realm_types(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  for (const auto& r : parse_domains_cfg(text).realms) out.emplace(r.id, r.type);
  return out;
}

std::string default_domains_cfg() {
  RealmList list;
  ensure_builtin(list);
  return print_domains_cfg(list);
}

namespace {

const std::vector<std::string> kBuiltinKeys = {"comment", "default", "tfa"};
const std::vector<std::string> kLdapCommon = {
    "comment", "default", "tfa", "server1", "server2", "port", "secure", "sslversion", "mode", "verify", "capath",
    "cert", "certkey", "base_dn", "bind_dn", "password", "user_attr", "filter", "sync_attributes", "user_classes",
    "group_dn", "group_name_attr", "group_filter", "group_classes", "sync-defaults-options", "case-sensitive",
    "check-connection"};
std::vector<std::string> ad_keys() {
  auto keys = kLdapCommon;
  keys.push_back("domain");
  return keys;
}
const std::vector<std::string> kAdKeys = ad_keys();
const std::vector<std::string> kOpenIdKeys = {
    "comment", "default", "issuer-url", "client-id", "client-key", "autocreate", "username-claim", "scopes", "prompt",
    "acr-values", "groups-claim", "groups-autocreate", "groups-overwrite", "query-userinfo"};

}  // namespace

const std::vector<std::string>* realm_type_keys(std::string_view type) {
  if (type == "pam" || type == "pve") return &kBuiltinKeys;
  if (type == "ldap") return &kLdapCommon;
  if (type == "ad") return &kAdKeys;
  if (type == "openid") return &kOpenIdKeys;
  return nullptr;
}

bool realm_key_fixed(std::string_view type, std::string_view key) {
  if (type == "ldap") return key == "base_dn" || key == "user_attr";
  if (type == "openid") return key == "issuer-url" || key == "client-id" || key == "username-claim";
  return false;
}

}  // namespace pvx::auth
