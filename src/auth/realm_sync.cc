#include "auth/realm_sync.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "auth/auth_service.h"
#include "auth/domains_config.h"
#include "auth/ldap_directory.h"
#include "auth/user_config.h"
#include "base/error.h"
#include "base/strings.h"

namespace pvx::auth {

namespace {


std::string opt(const Realm& r, const char* key, const std::string& fallback = {}) {
  auto v = r.get(key);
  return v && !v->empty() ? *v : fallback;
}

LdapServerOptions server_options(const Realm& r) {
  LdapServerOptions o;
  o.servers = {opt(r, "server1"), opt(r, "server2")};
  if (auto p = r.get("port"); p && !p->empty()) {
    auto port = to_int(*p);
    if (!port || *port < 1 || *port > 65535) throw Error("realm '" + r.id + "' has an invalid port '" + *p + "'");
    o.port = *port;
  }
  o.min_tls = opt(r, "sslversion", "tlsv1_2");
  o.mode = opt(r, "mode", r.flag("secure", false) ? "ldaps" : "ldap");
  o.verify = r.flag("verify", false);
  o.capath = opt(r, "capath");
  o.cert = opt(r, "cert");
  o.certkey = opt(r, "certkey");
  return o;
}

bool is_ad(const Realm& r) { return r.type == "ad"; }

std::string user_attr(const Realm& r) { return opt(r, "user_attr", is_ad(r) ? "sAMAccountName" : "uid"); }

// "(|(objectclass=a)(objectclass=b))" from a class list.
std::string classes_filter(const std::string& list) {
  std::string out;
  for (const auto& c : split_any(list, ", ;")) out += "(objectclass=" + ldap_filter_escape(c) + ")";
  return out.empty() ? "" : "(|" + out + ")";
}

// The realm's optional extra filter, with the parentheses LDAP requires.
std::string extra_filter(const std::string& f) {
  if (f.empty()) return "";
  return f.front() == '(' ? f : "(" + f + ")";
}

// The users a sync reads: `user_classes` and the realm's `filter` narrow them (a login looks
// the user up by `user_attr` alone, as PVE does).
std::string sync_user_filter(const Realm& r) {
  return "(&(" + user_attr(r) + "=*)" + classes_filter(opt(r, "user_classes", "inetorgperson,posixaccount,person,user")) +
         extra_filter(opt(r, "filter")) + ")";
}

// The realm's base_dn; an AD realm without one uses the server's defaultNamingContext, as PVE.
std::string base_dn(const Realm& r, LdapConnection& conn) {
  if (auto b = opt(r, "base_dn"); !b.empty()) return b;
  auto root = conn.search("", "(objectClass=*)", {"defaultNamingContext"}, true);
  if (!root.empty()) {
    if (auto b = root.front().first("defaultNamingContext"); !b.empty()) return b;
  }
  throw Error("realm '" + r.id + "' has no base_dn and the server names no defaultNamingContext");
}

std::unique_ptr<LdapConnection> connect_and_bind(const Realm& r, const std::optional<std::string>& bind_password) {
  auto conn = std::make_unique<LdapConnection>(server_options(r));
  const std::string bind_dn = opt(r, "bind_dn");
  if (!bind_dn.empty() && !bind_password) throw Error("realm '" + r.id + "' has a bind_dn but no bind password");
  conn->bind(bind_dn, bind_dn.empty() ? "" : *bind_password);
  return conn;
}


// "cn=ops,ou=groups,dc=x" -> "ops"
std::string first_rdn_value(const std::string& dn) {
  auto eq = dn.find('=');
  auto comma = dn.find(',');
  if (eq == std::string::npos) return dn;
  return dn.substr(eq + 1, comma == std::string::npos ? std::string::npos : comma - eq - 1);
}

struct Directory {
  std::map<std::string, std::map<std::string, std::string>> users;  // name -> synced properties
  std::map<std::string, std::set<std::string>> groups;              // "<name>-<realm>" -> member names
  std::vector<std::string> skipped;                                 // why entries were left out
};

// sync_attributes: "email=mail,firstname=givenName" (pvx key = LDAP attribute).
std::map<std::string, std::string> sync_attribute_map(const Realm& r) {
  std::map<std::string, std::string> out;
  for (const auto& item : split_any(opt(r, "sync_attributes"), ",")) {
    auto eq = item.find('=');
    if (eq != std::string::npos) out[std::string(trim(item.substr(0, eq)))] = to_lower(std::string(trim(item.substr(eq + 1))));
  }
  return out;
}

Directory read_directory(const Realm& r, const std::optional<std::string>& bind_password, bool with_groups) {
  auto conn = connect_and_bind(r, bind_password);
  const auto attr_map = sync_attribute_map(r);
  std::vector<std::string> attrs = {user_attr(r)};
  for (const auto& [k, a] : attr_map) attrs.push_back(a);
  Directory dir;
  std::map<std::string, std::string> dn_to_name;  // lower-cased DN -> user name
  const std::string base = base_dn(r, *conn);
  for (const auto& e : conn->search(base, sync_user_filter(r), attrs)) {
    std::string name = e.first(user_attr(r));
    if (name.empty() || !split_userid(name + "@" + r.id)) {
      dir.skipped.push_back("skipped user '" + name + "' (" + e.dn + "): not a valid user name");
      continue;
    }
    auto& props = dir.users[name];
    for (const auto& [key, attr] : attr_map) {
      if (auto v = e.first(attr); !v.empty()) props[key] = v;
    }
    dn_to_name[to_lower(e.dn)] = name;
  }
  if (!with_groups) return dir;
  const std::string name_attr = to_lower(opt(r, "group_name_attr", "cn"));
  const std::string group_base = opt(r, "group_dn", base);  // group_dn defaults to base_dn
  const std::string filter = "(&" +
                             classes_filter(opt(r, "group_classes", "groupOfNames,group,univentionGroup,ipausergroup")) +
                             extra_filter(opt(r, "group_filter")) + ")";
  for (const auto& e : conn->search(group_base, filter, {name_attr, "member", "uniqueMember", "memberUid"})) {
    std::string name = e.first(name_attr);
    if (name.empty()) name = first_rdn_value(e.dn);
    const std::string groupid = name + "-" + r.id;
    if (!is_valid_group_name(groupid)) {
      dir.skipped.push_back("skipped group '" + name + "' (" + e.dn + "): not a valid group name");
      continue;
    }
    auto& members = dir.groups[groupid];
    // member, else uniqueMember (as PVE); memberUid of posixGroups names users directly.
    const auto* dns = e.get("member") ? e.get("member") : e.get("uniquemember");
    for (const auto& dn : dns ? *dns : std::vector<std::string>{}) {
      if (auto it = dn_to_name.find(to_lower(dn)); it != dn_to_name.end()) members.insert(it->second);
    }
    if (const auto* v = e.get("memberuid")) members.insert(v->begin(), v->end());
  }
  return dir;
}

void remove_acl_member(UserConfig& cfg, const std::string& id, bool group) {
  for (auto it = cfg.acl.begin(); it != cfg.acl.end();) {
    if (group) it->second.groups.erase(id);
    else it->second.users.erase(id);
    it = it->second.empty() ? cfg.acl.erase(it) : std::next(it);
  }
}

// Applies the directory to user.cfg with PVE's sync semantics; logs each change.
void apply(UserConfig& cfg, const Realm& r, const Directory& dir, const RealmSyncRequest& req,
           const std::function<void(std::string_view)>& log) {
  const bool users = req.scope != "groups", groups = req.scope != "users";
  const bool rm_entry = req.remove_vanished.count("entry"), rm_acl = req.remove_vanished.count("acl"),
             rm_props = req.remove_vanished.count("properties");
  const std::string suffix = "@" + r.id;
  if (users) {
    for (const auto& [name, props] : dir.users) {
      const std::string userid = name + suffix;
      auto [it, added] = cfg.users.try_emplace(userid);
      UserEntry& u = it->second;
      if (added) u.enable = req.enable_new;
      UserEntry before = u;
      auto set = [&](const char* key, std::string& field) {
        if (auto p = props.find(key); p != props.end()) field = p->second;
        else if (rm_props) field.clear();
      };
      set("email", u.email);
      set("firstname", u.firstname);
      set("lastname", u.lastname);
      set("comment", u.comment);
      if (added) log("added user: " + userid);
      else if (!(before == u)) log("updated user: " + userid);
    }
    std::vector<std::string> vanished;
    for (const auto& [userid, u] : cfg.users) {
      if (userid.ends_with(suffix) && !dir.users.count(userid.substr(0, userid.size() - suffix.size()))) {
        vanished.push_back(userid);
      }
    }
    for (const auto& userid : vanished) {
      if (rm_acl) {
        remove_acl_member(cfg, userid, false);
        log("removed ACL entries of vanished user: " + userid);
      }
      if (rm_entry) {
        for (auto& [g, group] : cfg.groups) group.users.erase(userid);
        for (const auto& [t, tok] : cfg.users[userid].tokens) remove_acl_member(cfg, userid + "!" + t, false);
        cfg.users.erase(userid);
        log("removed vanished user: " + userid);
      }
    }
  }
  if (groups) {
    for (const auto& [groupid, members] : dir.groups) {
      if (!is_valid_group_name(groupid)) continue;
      auto [it, added] = cfg.groups.try_emplace(groupid);
      GroupEntry& g = it->second;
      std::set<std::string, std::less<>> next;
      // Members from other realms stay; this realm's come from the directory.
      for (const auto& m : g.users) {
        if (!m.ends_with(suffix)) next.insert(m);
      }
      for (const auto& name : members) {
        if (cfg.users.count(name + suffix)) next.insert(name + suffix);
      }
      const bool changed = next != g.users;
      for (const auto& m : g.users) {
        if (auto u = cfg.users.find(m); u != cfg.users.end()) u->second.groups.erase(groupid);
      }
      g.users = next;
      for (const auto& m : g.users) {
        if (auto u = cfg.users.find(m); u != cfg.users.end()) u->second.groups.insert(groupid);
      }
      if (added) log("added group: " + groupid);
      else if (changed) log("updated group: " + groupid);
    }
    std::vector<std::string> vanished;
    for (const auto& [groupid, g] : cfg.groups) {
      if (groupid.ends_with("-" + r.id) && !dir.groups.count(groupid)) vanished.push_back(groupid);
    }
    for (const auto& groupid : vanished) {
      if (rm_acl) {
        remove_acl_member(cfg, groupid, true);
        log("removed ACL entries of vanished group: " + groupid);
      }
      if (rm_entry) {
        for (const auto& m : cfg.groups[groupid].users) {
          if (auto u = cfg.users.find(m); u != cfg.users.end()) u->second.groups.erase(groupid);
        }
        cfg.groups.erase(groupid);
        log("removed vanished group: " + groupid);
      }
    }
  }
}

void merge_options(RealmSyncRequest& req, bool& have_scope, const std::string& key, const std::string& value) {
  if (key == "scope") {
    if (value != "users" && value != "groups" && value != "both") throw Error::param("scope", "invalid scope '" + value + "'");
    req.scope = value;
    have_scope = true;
  } else if (key == "enable-new") {
    req.enable_new = value == "1" || value == "true";
  } else if (key == "remove-vanished") {
    req.remove_vanished.clear();
    for (const auto& v : split_any(value, ";, ")) {
      if (v == "none") continue;
      if (v != "acl" && v != "entry" && v != "properties") {
        throw Error::param("remove-vanished", "invalid value '" + v + "' (acl, entry, properties or none)");
      }
      req.remove_vanished.insert(v);
    }
  } else if (key == "full" && (value == "1" || value == "true")) {
    req.remove_vanished.insert("entry");  // deprecated spelling
    req.remove_vanished.insert("properties");
  } else if (key == "purge" && (value == "1" || value == "true")) {
    req.remove_vanished.insert("acl");  // deprecated spelling
  }
}

}  // namespace

RealmSyncRequest sync_options(const Realm& realm, const nlohmann::json& params) {
  RealmSyncRequest req;
  bool have_scope = false;
  for (const auto& item : split_any(opt(realm, "sync-defaults-options"), ",")) {
    auto eq = item.find('=');
    if (eq != std::string::npos) merge_options(req, have_scope, item.substr(0, eq), item.substr(eq + 1));
  }
  for (const char* key : {"scope", "enable-new", "remove-vanished", "full", "purge"}) {
    if (!params.contains(key)) continue;
    // The deprecated spellings count only when remove-vanished is not given, as in PVE.
    if ((std::string_view(key) == "full" || std::string_view(key) == "purge") && params.contains("remove-vanished")) continue;
    const auto& v = params[key];
    std::string text = v.is_string() ? v.get<std::string>() : v.is_boolean() ? (v.get<bool>() ? "1" : "0") : v.dump();
    merge_options(req, have_scope, key, text);
  }
  req.dry_run = params.contains("dry-run") && (params["dry-run"] == 1 || params["dry-run"] == true);
  if (!have_scope) throw Error::param("scope", "no sync scope given (as parameter or in the realm's sync-defaults-options)");
  return req;
}

void run_realm_sync(AuthService& auth, const Realm& realm, const RealmSyncRequest& req,
                    const std::function<void(std::string_view)>& log) {
  log("starting sync of realm " + realm.id + " (scope " + req.scope + (req.dry_run ? ", dry run" : "") + ")");
  Directory dir = read_directory(realm, auth.realm_password(realm.id), req.scope != "users");
  for (const auto& why : dir.skipped) log(why);
  log("directory: " + std::to_string(dir.users.size()) + " users, " + std::to_string(dir.groups.size()) + " groups");
  if (req.dry_run) {
    UserConfig copy = *auth.user_config();
    apply(copy, realm, dir, req, log);
    log("dry run: nothing was written");
    return;
  }
  auth.update_user_config([&](UserConfig& cfg) { apply(cfg, realm, dir, req, log); });
  log("sync of realm " + realm.id + " done");
}

void realm_check_connection(const Realm& realm, const std::optional<std::string>& bind_password) {
  connect_and_bind(realm, bind_password);
}

bool realm_check_password(const Realm& realm, const std::optional<std::string>& bind_password,
                          const std::string& username, const std::string& password) {
  if (password.empty()) return false;
  if (is_ad(realm) && opt(realm, "bind_dn").empty()) {
    // Active Directory without a service account: bind as the user's UPN, as PVE does.
    const std::string domain = opt(realm, "domain");
    const std::string upn = username.find('@') == std::string::npos && !domain.empty() ? username + "@" + domain : username;
    LdapConnection conn(server_options(realm));
    try {
      conn.bind(upn, password);
    } catch (const Error& e) {
      if (e.status() == 401) return false;
      throw;
    }
    return true;
  }
  auto conn = connect_and_bind(realm, bind_password);
  auto found = conn->search(base_dn(realm, *conn), "(" + user_attr(realm) + "=" + ldap_filter_escape(username) + ")",
                            {"dn"});
  if (found.size() != 1) {
    if (found.size() > 1) throw Error("user '" + username + "' is ambiguous in realm '" + realm.id + "'");
    return false;
  }
  try {
    conn->bind(found.front().dn, password);
  } catch (const Error& e) {
    if (e.status() == 401) return false;
    throw;
  }
  return true;
}

}  // namespace pvx::auth
