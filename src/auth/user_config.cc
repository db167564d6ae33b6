#include "auth/user_config.h"

#include <cctype>

#include "base/strings.h"

namespace pvx::auth {
namespace {

bool is_realm_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

// PVE splits records on ':' and trims each field; Perl's split drops trailing empty fields, so a
// missing field and an empty one read the same.
std::vector<std::string> split_fields(std::string_view line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == ':') {
      out.emplace_back(trim(line.substr(start, i - start)));
      start = i + 1;
    }
  }
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

std::string field(const std::vector<std::string>& f, size_t i) { return i < f.size() ? f[i] : std::string(); }

// Perl truthiness of a field: "" and "0" are false.
bool flag(const std::string& s) { return !s.empty() && s != "0"; }

std::optional<std::int64_t> parse_expire(const std::string& s) {
  if (s.empty()) return 0;
  std::int64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    if (v > (INT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

bool is_storage_id(std::string_view s) {
  if (s.size() < 2 || !std::isalpha(static_cast<unsigned char>(s.front())) ||
      !std::isalnum(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool is_pool_name(std::string_view s) {
  auto parts = split_any(s, "/");
  if (parts.empty() || parts.size() > 3 || s.front() == '/' || s.back() == '/' ||
      s.find("//") != std::string_view::npos) {
    return false;
  }
  for (const auto& p : parts) {
    for (char c : p) {
      if (!is_realm_char(c)) return false;
    }
  }
  return true;
}

std::string join(const auto& items, std::string_view prefix = {}) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ',';
    out += prefix;
    out += i;
  }
  return out;
}

class Parser {
 public:
  UserConfigParse run(std::string_view text) {
    force_defaults();
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view line = trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
      if (!line.empty()) parse_line(line);
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
    force_defaults();
    return std::move(out_);
  }

 private:
  UserConfig& cfg() { return out_.config; }
  void warn(std::string message) { out_.warnings.push_back("user config - " + std::move(message)); }

  void force_defaults() {
    for (const auto& [name, privs] : builtin_roles()) cfg().roles[name] = privs;
    if (!cfg().users.contains("root@pam")) cfg().users["root@pam"].enable = true;
  }

  void parse_line(std::string_view line) {
    auto f = split_fields(line);
    std::string type = field(f, 0);
    if (type == "user") {
      parse_user(f);
    } else if (type == "group") {
      parse_group(f);
    } else if (type == "role") {
      parse_role(f);
    } else if (type == "acl") {
      parse_acl(f);
    } else if (type == "pool") {
      parse_pool(f);
    } else if (type == "token") {
      parse_token(f);
    } else {
      warn("ignore config line: " + std::string(line));
    }
  }

  void parse_user(const std::vector<std::string>& f) {
    std::string id = field(f, 1);
    if (!split_userid(id)) return warn("ignore user '" + id + "' - invalid user name");
    auto expire = parse_expire(field(f, 3));
    if (!expire) return warn("ignore user '" + id + "' - (illegal characters in expire '" + field(f, 3) + "')");
    UserEntry& u = cfg().users[id];
    u = UserEntry{};  // a repeated line replaces the earlier one, as in PVE
    u.enable = flag(field(f, 2));
    u.expire = *expire;
    u.firstname = decode_text(field(f, 4));
    u.lastname = decode_text(field(f, 5));
    u.email = field(f, 6);
    u.comment = decode_text(field(f, 7));
    u.keys = field(f, 8);
    for (auto& [gname, g] : cfg().groups) {
      if (g.users.contains(id)) u.groups.insert(gname);
    }
  }

  void parse_group(const std::vector<std::string>& f) {
    std::string name = field(f, 1);
    if (!is_valid_group_name(name)) return warn("ignore group '" + name + "' - invalid characters in group name");
    GroupEntry& g = cfg().groups[name];
    if (std::string c = field(f, 3); !c.empty()) g.comment = decode_text(c);
    for (const auto& member : split_any(field(f, 2), ",; ")) {
      if (!split_userid(member)) {
        warn("ignore invalid group member '" + member + "'");
        continue;
      }
      if (auto it = cfg().users.find(member); it != cfg().users.end()) {
        it->second.groups.insert(name);
      } else {
        warn("ignore invalid group member '" + member + "'");
      }
      g.users.insert(member);  // kept like PVE does, so the member survives a rewrite
    }
  }

  void parse_role(const std::vector<std::string>& f) {
    std::string name = field(f, 1);
    if (!is_valid_role_name(name)) return warn("ignore role '" + name + "' - invalid characters in role name");
    PrivSet& privs = cfg().roles[name];
    for (const auto& p : split_any(field(f, 2), ",; ")) {
      if (is_valid_privilege(p)) {
        privs.insert(p);
      } else {
        warn("ignore invalid privilege '" + p + "'");
      }
    }
  }

  void parse_acl(const std::vector<std::string>& f) {
    bool propagate = flag(field(f, 1));
    auto path = normalize_acl_path(field(f, 2));
    if (!path) return warn("ignore invalid path in acl '" + field(f, 2) + "'");
    for (const auto& role : split_any(field(f, 4), ",; ")) {
      if (!is_valid_role_name(role)) {
        warn("ignore invalid role name '" + role + "' in acl");
        continue;
      }
      if (!cfg().roles.contains(role)) {
        warn("ignore invalid acl role '" + role + "'");
        continue;
      }
      for (const auto& member : split_any(field(f, 3), ",; ")) {
        if (member.size() > 1 && member[0] == '@' && is_valid_group_name(member.substr(1))) {
          std::string group = member.substr(1);
          if (!cfg().groups.contains(group)) warn("ignore invalid acl group '" + group + "'");
          cfg().acl[*path].groups[group][role] = propagate;
        } else if (split_userid(member)) {
          if (!cfg().users.contains(member)) warn("ignore invalid acl member '" + member + "'");
          cfg().acl[*path].users[member][role] = propagate;
        } else if (split_tokenid(member)) {
          if (cfg().token(member)) {
            cfg().acl[*path].tokens[member][role] = propagate;
          } else {
            warn("ignore invalid acl token '" + member + "'");
          }
        } else {
          warn("invalid user/group '" + member + "' in acl");
        }
      }
    }
  }

  void parse_pool(const std::vector<std::string>& f) {
    std::string name = field(f, 1);
    if (!is_pool_name(name)) return warn("ignore pool '" + name + "' - invalid characters in pool name");
    PoolEntry& pool = cfg().pools[name];
    // Nested pools ("lab/ci") imply their parents.
    for (std::string parent = name; parent.find('/') != std::string::npos;) {
      parent.resize(parent.rfind('/'));
      cfg().pools.try_emplace(parent);
    }
    if (std::string c = field(f, 2); !c.empty()) pool.comment = decode_text(c);
    for (const auto& vmid : split_any(field(f, 3), ",; ")) {
      auto v = parse_expire(vmid);
      if (!v || vmid.empty()) {
        warn("ignore invalid vmid '" + vmid + "' in pool '" + name + "'");
        continue;
      }
      std::string id = std::to_string(*v);
      if (!vm_pools_.emplace(id, name).second) {
        warn("ignore duplicate vmid '" + id + "' in pool '" + name + "'");
        continue;
      }
      pool.vms.insert(id);
    }
    for (const auto& sid : split_any(field(f, 4), ",; ")) {
      if (!is_storage_id(sid)) {
        warn("ignore invalid storage '" + sid + "' in pool '" + name + "'");
        continue;
      }
      pool.storage.insert(sid);
    }
  }

  void parse_token(const std::vector<std::string>& f) {
    std::string id = field(f, 1);
    auto parts = split_tokenid(id);
    if (!parts) return warn("ignore invalid tokenid '" + id + "'");
    auto expire = parse_expire(field(f, 2));
    if (!expire) return warn("ignore token '" + id + "' - (illegal characters in expire '" + field(f, 2) + "')");
    auto user = cfg().users.find(parts->first);
    if (user == cfg().users.end()) return warn("ignore token '" + id + "' - user does not exist");
    TokenEntry& t = user->second.tokens[parts->second];
    t.expire = *expire;
    t.privsep = flag(field(f, 3));
    if (std::string c = field(f, 4); !c.empty()) t.comment = decode_text(c);
  }

  UserConfigParse out_;
  std::map<std::string, std::string> vm_pools_;  // vmid -> pool, to refuse duplicates
};

// For one ACL member: "roles with propagate=0" and "roles with propagate=1" lists.
void collect_rolelists(const std::map<std::string, RoleFlags, std::less<>>& members, std::string_view prefix,
                       std::map<std::string, std::set<std::string>> (&out)[2]) {
  for (const auto& [member, roles] : members) {
    if (prefix.empty() && member == "root@pam") continue;  // root is Administrator anyway
    std::vector<std::string> lists[2];
    for (const auto& [role, propagate] : roles) lists[propagate ? 1 : 0].push_back(role);
    for (int p = 0; p < 2; ++p) {
      if (!lists[p].empty()) out[p][join(lists[p])].insert(std::string(prefix) + member);
    }
  }
}

}  // namespace

bool AclPathLess::operator()(std::string_view a, std::string_view b) const {
  auto next = [](std::string_view& s) {
    while (!s.empty() && s.front() == '/') s.remove_prefix(1);
    size_t end = s.find('/');
    std::string_view part = s.substr(0, end);
    s.remove_prefix(part.size());
    return part;
  };
  for (;;) {
    std::string_view pa = next(a), pb = next(b);
    if (pa.empty() || pb.empty()) return pa.empty() && !pb.empty();
    if (pa != pb) return pa < pb;
  }
}

const UserEntry* UserConfig::user(std::string_view userid) const {
  auto it = users.find(userid);
  return it == users.end() ? nullptr : &it->second;
}

const TokenEntry* UserConfig::token(std::string_view tokenid) const {
  auto parts = split_tokenid(tokenid);
  if (!parts) return nullptr;
  const UserEntry* u = user(parts->first);
  if (!u) return nullptr;
  auto it = u->tokens.find(parts->second);
  return it == u->tokens.end() ? nullptr : &it->second;
}

bool UserConfig::user_active(std::string_view userid, std::int64_t now) const {
  const UserEntry* u = user(userid);
  if (!u) return userid == "root@pam";
  return u->enable && (u->expire == 0 || u->expire >= now);
}

UserConfigParse parse_user_config(std::string_view text) { return Parser().run(text); }

std::string print_user_config(const UserConfig& cfg) {
  std::string out;
  for (const auto& [id, u] : cfg.users) {
    out += "user:" + id + ":" + (u.enable ? "1" : "0") + ":" + std::to_string(u.expire) + ":" +
           encode_text(u.firstname) + ":" + encode_text(u.lastname) + ":" + u.email + ":" + encode_text(u.comment) +
           ":" + u.keys + ":\n";
    for (const auto& [name, t] : u.tokens) {
      out += "token:" + id + "!" + name + ":" + std::to_string(t.expire) + ":" + (t.privsep ? "1" : "0") + ":" +
             encode_text(t.comment) + ":\n";
    }
  }
  out += "\n";
  for (const auto& [name, g] : cfg.groups) out += "group:" + name + ":" + join(g.users) + ":" + encode_text(g.comment) + ":\n";
  out += "\n";
  for (const auto& [name, p] : cfg.pools) {
    out += "pool:" + name + ":" + encode_text(p.comment) + ":" + join(p.vms) + ":" + join(p.storage) + ":\n";
  }
  out += "\n";
  for (const auto& [name, privs] : cfg.roles) {
    if (!is_builtin_role(name)) out += "role:" + name + ":" + join(privs) + ":\n";
  }
  out += "\n";
  for (const auto& [path, node] : cfg.acl) {
    std::map<std::string, std::set<std::string>> lists[2];  // propagate -> rolelist -> members
    collect_rolelists(node.groups, "@", lists);
    collect_rolelists(node.users, "", lists);
    collect_rolelists(node.tokens, "", lists);
    for (int p = 0; p < 2; ++p) {
      for (const auto& [rolelist, members] : lists[p]) {
        out += "acl:" + std::to_string(p) + ":" + path + ":" + join(members) + ":" + rolelist + ":\n";
      }
    }
  }
  return out;
}

std::optional<UserId> split_userid(std::string_view userid) {
  auto at = userid.rfind('@');
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  std::string_view name = userid.substr(0, at), realm = userid.substr(at + 1);
  for (char c : name) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ':' || c == '/') return std::nullopt;
  }
  if (!is_valid_realm(realm)) return std::nullopt;
  return UserId{std::string(name), std::string(realm)};
}

std::optional<std::pair<std::string, std::string>> split_tokenid(std::string_view tokenid) {
  auto bang = tokenid.rfind('!');
  if (bang == std::string_view::npos) return std::nullopt;
  std::string_view user = tokenid.substr(0, bang), token = tokenid.substr(bang + 1);
  if (!split_userid(user) || !is_valid_realm(token)) return std::nullopt;
  return std::pair{std::string(user), std::string(token)};
}

bool is_valid_realm(std::string_view realm) {
  if (realm.size() < 2 || !std::isalpha(static_cast<unsigned char>(realm.front()))) return false;
  for (char c : realm) {
    if (!is_realm_char(c)) return false;
  }
  return true;
}

bool is_valid_role_name(std::string_view role) {
  if (role.empty()) return false;
  for (char c : role) {
    if (!is_realm_char(c)) return false;
  }
  return true;
}

bool is_valid_group_name(std::string_view group) { return is_valid_role_name(group); }

std::optional<std::string> normalize_acl_path(std::string_view path) {
  if (path.empty()) return std::nullopt;
  std::string out = "/";
  for (const auto& part : split_any(path, "/")) {
    for (char c : part) {
      if (!is_realm_char(c)) return std::nullopt;
    }
    if (out.size() > 1) out += '/';
    out += part;
  }
  return out;
}

std::string encode_text(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7E || c == '%' || c == ':') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string decode_text(std::string_view text) { return url_decode(text, false); }

}  // namespace pvx::auth
