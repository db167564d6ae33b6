#include "auth/auth_service.h"

#include <pwd.h>

#include <chrono>
#include <ctime>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "auth/acl.h"
#include "auth/cached_file.h"
#include "auth/capabilities.h"
#include "auth/domains_config.h"
#include "auth/login_limiter.h"
#include "auth/realm_sync.h"
#include "auth/tfa_login.h"
#include "auth/pam_login.h"
#include "auth/password_hash.h"
#include "auth/secret_files.h"
#include "auth/tickets.h"
#include "auth/user_config.h"
#include "base/error.h"
#include "base/log.h"
#include "base/process.h"
#include "base/random.h"
#include "base/rollback.h"
#include "base/strings.h"
#include "cluster/config_store.h"

namespace pvx::auth {
namespace {

constexpr const char* kUserCfg = "user.cfg";
constexpr const char* kDomainsCfg = "domains.cfg";
constexpr const char* kShadowCfg = "priv/shadow.cfg";
constexpr const char* kTokenCfg = "priv/token.cfg";
constexpr const char* kAuthKeyPub = "authkey.pub";
constexpr const char* kAuthKeyPriv = "priv/authkey.key";
constexpr const char* kWwwKey = "priv/pve-www.key";
constexpr const char* kRealmPasswordDir = "priv/realm/";
constexpr const char* kLegacyRealmPasswordDir = "priv/ldap/";
constexpr auto kLockTimeout = std::chrono::seconds(10);

// What a fresh installation's user.cfg holds. The root ACL line is only informative (root@pam
// has every privilege anyway) and, as in PVE, is not written back by print_user_config.
constexpr const char* kDefaultUserCfg =
    "user:root@pam:1:0:::::\n"
    "\n"
    "acl:1:/:root@pam:Administrator:\n";

std::optional<std::string> realm_password_of(cluster::ConfigStore& store, const std::string& realm) {
  for (const char* dir : {"priv/realm/", "priv/ldap/"}) {
    if (auto e = store.read(std::string(dir) + realm + ".pw")) {
      std::string pw = e->data;
      while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
      return pw;
    }
  }
  return std::nullopt;
}

// getpwnam_r: logins run on several worker threads.
bool linux_user_exists(const std::string& name) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  return ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr;
}

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }



// The parsed token.cfg plus a memo of secrets already checked against it, so that a client
// sending the same token on every request pays for crypt(3) once per token.cfg version.
struct TokenSecrets {
  TokenSecrets() = default;
  // Only freshly parsed values are moved (into the cache); the memo starts empty.
  TokenSecrets(TokenSecrets&& other) noexcept : hashes(std::move(other.hashes)) {}

  SecretMap hashes;
  mutable std::mutex mutex;
  mutable std::map<std::string, std::string, std::less<>> verified;  // tokenid -> sha256(secret)

  bool check(const std::string& tokenid, std::string_view secret) const {
    auto it = hashes.find(tokenid);
    if (it == hashes.end()) return false;
    std::string digest = sha256_hex(secret);
    {
      std::lock_guard lock(mutex);
      auto v = verified.find(tokenid);
      if (v != verified.end() && constant_time_equal(v->second, digest)) return true;
    }
    if (!verify_password(secret, it->second)) return false;
    std::lock_guard lock(mutex);
    verified[tokenid] = digest;
    return true;
  }
};

using KeyPtr = std::shared_ptr<const TicketKey>;

// A broken key file must not turn every request into a 500: treat it as absent and say so.
KeyPtr load_key(const std::optional<cluster::FileEntry>& e, bool is_private) {
  if (!e) return nullptr;
  try {
    return is_private ? TicketKey::from_private_pem(e->data) : TicketKey::from_public_pem(e->data);
  } catch (const Error& err) {
    log::error(std::string("auth: ") + err.what());
    return nullptr;
  }
}

}  // namespace

struct AuthService::Impl {
  explicit Impl(cluster::ConfigStore& s) : store(s) {
    for (auto* f : {&pub_key, &priv_key}) {
      watches.push_back(store.watch(f->path(), [f](const std::string&, std::uint64_t) { f->mark_stale(); }));
    }
    watches.push_back(
        store.watch(csrf_secret.path(), [this](const std::string&, std::uint64_t) { csrf_secret.mark_stale(); }));
  }

  cluster::ConfigStore& store;
  CachedFile<UserConfig> users{kUserCfg, [](const std::optional<cluster::FileEntry>& e) {
                                 auto parsed = parse_user_config(e ? e->data : std::string());
                                 for (const auto& w : parsed.warnings) log::warn(w);
                                 return std::move(parsed.config);
                               }};
  CachedFile<RealmList> realms{
      kDomainsCfg, [](const std::optional<cluster::FileEntry>& e) { return parse_domains_cfg(e ? e->data : ""); }};
  CachedFile<SecretMap> shadow{kShadowCfg,
                               [](const std::optional<cluster::FileEntry>& e) { return parse_shadow(e ? e->data : ""); }};
  CachedFile<TokenSecrets> token_secrets{kTokenCfg, [](const std::optional<cluster::FileEntry>& e) {
                                           TokenSecrets t;
                                           t.hashes = parse_token_secrets(e ? e->data : "");
                                           return t;
                                         }};
  CachedFile<KeyPtr> pub_key{kAuthKeyPub, [](const std::optional<cluster::FileEntry>& e) { return load_key(e, false); }};
  CachedFile<KeyPtr> priv_key{kAuthKeyPriv, [](const std::optional<cluster::FileEntry>& e) { return load_key(e, true); }};
  CachedFile<std::string> csrf_secret{kWwwKey, [](const std::optional<cluster::FileEntry>& e) {
                                        return e ? csrf_secret_from_key_file(e->data) : std::string();
                                      }};
  LoginLimiter limiter;

  // ---- second factors (tfa_login.h) ----
  std::optional<std::string> tfa_begin(const std::string& userid, const UserId& id,
                                       const std::optional<std::string>& otp, std::int64_t now) {
    auto cfg = users.get(store);
    auto list = realms.get(store);
    const UserEntry* user = cfg->user(userid);
    const Realm* realm = list->find(id.realm);
    if (!user || !realm) throw Error("no such user");
    return tfa_login_challenge(store, userid, *user, *realm, otp, now);
  }
  void tfa_verify(const std::string& userid, const std::string& challenge, const std::string& response, std::int64_t now) {
    auto id = split_userid(userid);
    auto cfg = users.get(store);
    auto list = realms.get(store);
    const UserEntry* user = cfg->user(userid);
    const Realm* realm = id ? list->find(id->realm) : nullptr;
    if (!user || !realm) throw Error("no such user");
    tfa_login_verify(store, userid, *user, *realm, challenge, response, now);
  }

  // Declared last so they are destroyed first: no callback can run on a destroyed cache.
  std::vector<cluster::SubscriptionPtr> watches;

  // ---- first-start material ----
  void ensure_keys() {
    auto guard = store.lock("authkey", kLockTimeout);
    auto pub = store.read(kAuthKeyPub);
    auto priv = store.read(kAuthKeyPriv);
    if (load_key(pub, false) && load_key(priv, true)) return;
    log::info("auth: generating a new ticket signing key");
    RsaKeyPair pair = generate_rsa_key_pair();
    // Private first: a verifier that sees the new public key can then already find its partner.
    store.write(kAuthKeyPriv, pair.private_pem);
    store.write(kAuthKeyPub, pair.public_pem);
    priv_key.mark_stale();
    pub_key.mark_stale();
  }

  void ensure_csrf_key() {
    if (store.read(kWwwKey)) return;
    // Any random text works as the key file; expected_version 0 lets a concurrent creator win.
    store.write(kWwwKey, base64_encode(random_bytes(48)) + "\n", 0);
    csrf_secret.mark_stale();
  }

  KeyPtr signing_key() {
    if (auto k = *priv_key.get_watched(store)) return k;
    ensure_keys();
    if (auto k = *priv_key.get_watched(store)) return k;
    throw Error("no ticket signing key", 500);
  }

  std::string csrf_key() {
    auto secret = csrf_secret.get_watched(store);
    if (!secret->empty()) return *secret;
    ensure_csrf_key();
    return *csrf_secret.get_watched(store);
  }

  // The userid of a valid ticket, before any user-state check.
  std::optional<std::string> ticket_user(std::string_view ticket) {
    if (!ticket.starts_with("PVE:")) return std::nullopt;
    KeyPtr key = *pub_key.get_watched(store);
    if (!key) return std::nullopt;
    auto user = auth::verify_ticket(*key, ticket, unix_now());
    // Half-authenticated TFA tickets ("!tfa!...") are signed with the user as aad and never
    // verify here; split_userid refuses anything else that is not a user.
    if (!user || user->starts_with("!tfa!") || !split_userid(*user)) return std::nullopt;
    return user;
  }

  bool check_realm_password(const std::string& userid, const UserId& id, const std::string& password) {
    auto list = realms.get(store);
    const Realm* realm = list->find(id.realm);
    if (!realm) throw Error("auth domain '" + id.realm + "' does not exist");
    if (realm->type == "pam") {
      if (!linux_user_exists(id.name)) throw Error("no Linux user '" + id.name + "' on this node");
      return pam_check_password(pam_service_name(), id.name, password);
    }
    if (realm->type == "pve") {
      auto hashes = shadow.get(store);
      auto it = hashes->find(userid);
      return it != hashes->end() && verify_password(password, it->second);
    }
    if (realm->type == "ldap" || realm->type == "ad") {
      return realm_check_password(*realm, realm_password_of(store, realm->id), id.name, password);
    }
    if (realm->type == "openid") throw Error("users of an openid realm log in through their OpenID provider");
    throw Error("realm type '" + realm->type + "' is not supported");
  }
};

AuthService::AuthService(cluster::ConfigStore& store) : impl_(std::make_unique<Impl>(store)) {}
AuthService::~AuthService() = default;

void AuthService::initialize() {
  auto& store = impl_->store;
  impl_->ensure_keys();
  impl_->ensure_csrf_key();
  if (!store.read(kDomainsCfg)) store.write(kDomainsCfg, default_domains_cfg(), 0);
  cluster::update_file(store, kUserCfg, [](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    if (!cur) return std::string(kDefaultUserCfg);
    auto parsed = parse_user_config(cur->data);
    // parse_user_config implies root@pam; only rewrite when the file itself lacks the record.
    if (cur->data.find("user:root@pam:") != std::string::npos) return std::nullopt;
    return print_user_config(parsed.config);
  });
}

LoginResult AuthService::login(const std::string& username, const std::string& password,
                               const std::optional<std::string>& realm) {
  std::string userid = username;
  if (realm && !realm->empty() && !userid.ends_with("@" + *realm)) userid += "@" + *realm;
  return login(LoginRequest{.username = userid, .password = password});
}

LoginResult AuthService::login(const LoginRequest& req) {
  std::string userid = req.username;
  const std::int64_t now = unix_now();
  auto fail = [&](const std::string& why) {
    impl_->limiter.failed(userid, req.client, now);
    log::warn("authentication failure; rhost=" + (req.client.empty() ? std::string("-") : req.client) +
              " user=" + userid + " msg=" + why);
    throw Error("authentication failure", 401);
  };
  if (auto why = impl_->limiter.refused(userid, req.client, now); !why.empty()) fail(why);
  auto id = split_userid(userid);
  if (!id) fail("invalid user name");
  auto cfg = impl_->users.get(impl_->store);
  if (!cfg->user(userid)) {
    // A directory realm with case-sensitive=0 finds "Ana@corp" as "ana@corp" (PVE's lookup).
    auto list = impl_->realms.get(impl_->store);
    const Realm* realm = list->find(id->realm);
    if (realm && (realm->type == "ldap" || realm->type == "ad") && !realm->flag("case-sensitive", true)) {
      for (const auto& [known, u] : cfg->users) {
        if (to_lower(known) == to_lower(userid)) {
          userid = known;
          id = split_userid(userid);
          break;
        }
      }
    }
  }
  if (!cfg->user_active(userid, now)) fail("user is missing, disabled or expired");

  try {
    if (req.tfa_challenge) {
      // Second step: the challenge ticket is bound to the user (aad), the password is the response.
      KeyPtr key = *impl_->pub_key.get_watched(impl_->store);
      auto data = key ? auth::verify_ticket(*key, *req.tfa_challenge, now, userid) : std::nullopt;
      if (!data || !data->starts_with("!tfa!")) fail("invalid TFA challenge ticket");
      impl_->tfa_verify(userid, data->substr(5), req.password, now);
    } else {
      bool ok = false;
      // Ticket renewal: a valid full ticket of the same user (or of root@pam) stands in for the
      // password and for the second factor (that ticket was only issued after both), as in PVE.
      bool renewal = false;
      if (auto ticket_user = impl_->ticket_user(req.password)) renewal = ok = *ticket_user == userid || *ticket_user == "root@pam";
      if (!ok) ok = impl_->check_realm_password(userid, *id, req.password);
      if (!ok) fail("invalid credentials");
      if (auto challenge = renewal ? std::nullopt : impl_->tfa_begin(userid, *id, req.otp, now)) {
        return LoginResult{userid, assemble_ticket(*impl_->signing_key(), "!tfa!" + *challenge, now, userid),
                           assemble_csrf_token(impl_->csrf_key(), userid, now), true};
      }
    }
  } catch (const Error& e) {
    if (e.status() == 401) throw;  // already counted and logged by fail()
    fail(e.what());
  } catch (const std::exception& e) {
    fail(std::string("malformed input: ") + e.what());  // e.g. a TFA response of the wrong JSON shape
  }
  impl_->limiter.succeeded(userid);
  return LoginResult{userid, assemble_ticket(*impl_->signing_key(), userid, now),
                     assemble_csrf_token(impl_->csrf_key(), userid, now)};
}

bool AuthService::verify_password_only(const std::string& userid, const std::string& password, const std::string& client) {
  const std::int64_t now = unix_now();
  auto id = split_userid(userid);
  if (!id || !impl_->limiter.refused(userid, client, now).empty()) return false;
  bool ok = false;
  try {
    ok = impl_->check_realm_password(userid, *id, password);
  } catch (const Error&) {
    ok = false;
  }
  if (!ok) {
    impl_->limiter.failed(userid, client, now);
    log::warn("authentication failure; rhost=" + (client.empty() ? std::string("-") : client) + " user=" + userid +
              " msg=confirmation password is wrong");
  }
  return ok;
}

LoginResult AuthService::issue_login(const std::string& userid) {
  const std::int64_t now = unix_now();
  if (!impl_->users.get(impl_->store)->user_active(userid, now)) {
    log::warn("authentication failure; user=" + userid + " msg=user is missing, disabled or expired");
    throw Error("authentication failure", 401);
  }
  return LoginResult{userid, assemble_ticket(*impl_->signing_key(), userid, now),
                     assemble_csrf_token(impl_->csrf_key(), userid, now)};
}

std::optional<Identity> AuthService::verify_ticket(std::string_view ticket) {
  auto user = impl_->ticket_user(ticket);
  if (!user) return std::nullopt;
  if (!impl_->users.get(impl_->store)->user_active(*user, unix_now())) return std::nullopt;
  return Identity{.user = *user};
}

namespace {
constexpr std::string_view kVncPrefix = "PVEVNC";
std::string vnc_secret(const std::string& user, const std::string& path, int port) {
  return user + ":" + path + ":" + std::to_string(port);
}
}  // namespace

std::string AuthService::assemble_vnc_ticket(const std::string& user, const std::string& path, int port) {
  return assemble_short_lived_ticket(*impl_->signing_key(), kVncPrefix, vnc_secret(user, path, port), unix_now());
}

bool AuthService::verify_vnc_ticket(std::string_view ticket, const std::string& user, const std::string& path,
                                    int port) {
  // vncproxy's answer puts the VNC password in front ("<8 chars>:PVEVNC:..."); PVE accepts both.
  if (ticket.size() > 9 && ticket[8] == ':' && ticket.substr(9).starts_with("PVEVNC:")) ticket.remove_prefix(9);
  KeyPtr key = *impl_->pub_key.get_watched(impl_->store);
  return key && verify_short_lived_ticket(*key, kVncPrefix, ticket, vnc_secret(user, path, port), unix_now());
}

std::string AuthService::csrf_token(const std::string& user) {
  return assemble_csrf_token(impl_->csrf_key(), user, unix_now());
}

bool AuthService::verify_csrf(const std::string& user, std::string_view token) {
  return verify_csrf_token(impl_->csrf_key(), user, token, unix_now());
}

std::optional<Identity> AuthService::verify_api_token(std::string_view value) {
  auto sep = value.find_first_of("= ");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string tokenid(value.substr(0, sep));
  std::string_view secret = value.substr(sep + 1);
  auto parts = split_tokenid(tokenid);
  if (!parts || secret.empty()) return std::nullopt;
  std::int64_t now = unix_now();
  auto cfg = impl_->users.get(impl_->store);
  if (!cfg->user_active(parts->first, now)) return std::nullopt;
  const TokenEntry* token = cfg->token(tokenid);
  if (!token || (token->expire != 0 && token->expire < now)) return std::nullopt;
  if (!impl_->token_secrets.get(impl_->store)->check(tokenid, secret)) return std::nullopt;
  return Identity{.user = parts->first, .token = parts->second, .privsep = token->privsep};
}

std::set<std::string> AuthService::privileges(const Identity& who, std::string_view path) {
  std::set<std::string> out;
  for (const auto& [priv, propagate] : effective_privileges(*user_config(), who, path, unix_now())) out.insert(priv);
  return out;
}

bool AuthService::check(const Identity& who, std::string_view path, const std::vector<std::string>& privs, bool any) {
  return holds_privileges(*user_config(), who, path, privs, any, unix_now());
}

nlohmann::json AuthService::permissions(const Identity& who, const std::optional<std::string>& path) {
  return permissions_json(*user_config(), who, path, unix_now());
}

nlohmann::json AuthService::capabilities(const Identity& who) {
  return capabilities_json(*user_config(), who, unix_now());
}

void AuthService::set_password(const std::string& userid, const std::string& password) {
  auto id = split_userid(userid);
  if (!id) throw Error::param("userid", "value '" + userid + "' does not look like a valid user name");
  if (password.empty()) throw Error::param("password", "password must not be empty");
  auto list = impl_->realms.get(impl_->store);
  const Realm* realm = list->find(id->realm);
  if (!realm) throw Error::param("userid", "auth domain '" + id->realm + "' does not exist");
  if (!user_config()->user(userid)) throw Error::param("userid", "no such user ('" + userid + "')");
  if (realm->type == "pam") {
    if (!linux_user_exists(id->name)) throw Error::param("userid", "no Linux user '" + id->name + "' on this node");
    // As PVE: a PAM password changes only on this node, through the system's own tool.
    if (id->name.find_first_of(":\n") != std::string::npos || password.find('\n') != std::string::npos) {
      throw Error::param("password", "invalid characters");
    }
    run_command({"chpasswd"}, CommandOptions{.timeout = std::chrono::seconds(30), .input = id->name + ":" + password + "\n"});
    return;
  }
  if (realm->type != "pve") throw Error("changing the password of a '" + realm->type + "' realm user is not supported", 501);
  std::string hash = hash_password(password);
  cluster::update_file(impl_->store, kShadowCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    SecretMap entries = parse_shadow(cur ? cur->data : "");
    entries[userid] = hash;
    return print_shadow(entries);
  });
}

std::string AuthService::create_token(const std::string& userid, const std::string& tokenid, bool privsep,
                                      std::int64_t expire, const std::string& comment) {
  if (!split_userid(userid)) throw Error::param("userid", "value '" + userid + "' does not look like a valid user name");
  if (!is_valid_realm(tokenid)) throw Error::param("tokenid", "value '" + tokenid + "' does not look like a valid token name");
  if (expire < 0) throw Error::param("expire", "must be 0 or a unix time");
  std::string full = userid + "!" + tokenid;
  std::string secret = random_uuid();
  std::string hash = hash_password(secret);

  if (!user_config()->user(userid)) throw Error::param("userid", "no such user ('" + userid + "')");

  // user.cfg first: it refuses a duplicate before any secret is touched. A token line without
  // its hash (after a crash in between) cannot authenticate, so the order is safe.
  Rollback undo;
  cluster::update_file(impl_->store, kUserCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    UserConfig cfg = parse_user_config(cur ? cur->data : "").config;
    auto user = cfg.users.find(userid);
    if (user == cfg.users.end()) throw Error::param("userid", "no such user ('" + userid + "')");
    if (user->second.tokens.contains(tokenid)) throw Error::param("tokenid", "Token already exists.");
    user->second.tokens[tokenid] = TokenEntry{.expire = expire, .privsep = privsep, .comment = comment};
    return print_user_config(cfg);
  });
  undo.add([&] {
    cluster::update_file(impl_->store, kUserCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
      UserConfig cfg = parse_user_config(cur ? cur->data : "").config;
      auto user = cfg.users.find(userid);
      if (user == cfg.users.end() || user->second.tokens.erase(tokenid) == 0) return std::nullopt;
      return print_user_config(cfg);
    });
  });
  cluster::update_file(impl_->store, kTokenCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    SecretMap entries = parse_token_secrets(cur ? cur->data : "");
    entries[full] = hash;
    return print_token_secrets(entries);
  });
  undo.commit();
  return secret;
}

std::shared_ptr<const UserConfig> AuthService::user_config() { return impl_->users.get(impl_->store); }

}  // namespace pvx::auth

namespace pvx::auth {

void AuthService::update_user_config(const std::function<void(UserConfig&)>& edit) {
  cluster::update_file(impl_->store, kUserCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    UserConfig cfg = parse_user_config(cur ? cur->data : "").config;
    edit(cfg);
    return print_user_config(cfg);
  });
}

void AuthService::remove_token(const std::string& userid, const std::string& tokenid) {
  update_user_config([&](UserConfig& cfg) {
    auto user = cfg.users.find(userid);
    if (user == cfg.users.end()) throw Error::param("userid", "no such user ('" + userid + "')");
    if (user->second.tokens.erase(tokenid) == 0) throw Error::param("tokenid", "no such token ('" + tokenid + "')");
    for (auto& [path, node] : cfg.acl) node.tokens.erase(userid + "!" + tokenid);
  });
  std::string full = userid + "!" + tokenid;
  cluster::update_file(impl_->store, kTokenCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    SecretMap entries = parse_token_secrets(cur ? cur->data : "");
    if (entries.erase(full) == 0) return std::nullopt;
    return print_token_secrets(entries);
  });
}

void AuthService::remove_user(const std::string& userid) {
  if (userid == "root@pam") throw Error::param("userid", "the root@pam user cannot be removed");
  std::vector<std::string> tokens;
  update_user_config([&](UserConfig& cfg) {
    auto user = cfg.users.find(userid);
    if (user == cfg.users.end()) throw Error::param("userid", "no such user ('" + userid + "')");
    for (const auto& [name, t] : user->second.tokens) tokens.push_back(userid + "!" + name);
    cfg.users.erase(user);
    for (auto& [name, group] : cfg.groups) group.users.erase(userid);
    for (auto& [path, node] : cfg.acl) {
      node.users.erase(userid);
      for (const auto& t : tokens) node.tokens.erase(t);
    }
  });
  cluster::update_file(impl_->store, kTokenCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    SecretMap entries = parse_token_secrets(cur ? cur->data : "");
    size_t removed = 0;
    for (const auto& t : tokens) removed += entries.erase(t);
    if (removed == 0) return std::nullopt;
    return print_token_secrets(entries);
  });
  cluster::update_file(impl_->store, kShadowCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    SecretMap entries = parse_shadow(cur ? cur->data : "");
    if (entries.erase(userid) == 0) return std::nullopt;
    return print_shadow(entries);
  });
}

std::shared_ptr<const RealmList> AuthService::realms() { return impl_->realms.get(impl_->store); }

void AuthService::update_realms(const std::function<void(RealmList&)>& edit) {
  cluster::update_file(impl_->store, kDomainsCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    RealmList list = parse_domains_cfg(cur ? cur->data : "");
    edit(list);
    return print_domains_cfg(list);
  });
}

std::optional<std::string> AuthService::realm_password(const std::string& realm) {
  return realm_password_of(impl_->store, realm);
}

void AuthService::set_realm_password(const std::string& realm, const std::optional<std::string>& password) {
  const std::string path = std::string(kRealmPasswordDir) + realm + ".pw";
  if (password) {
    impl_->store.write(path, *password + "\n");
    return;
  }
  for (const char* dir : {kRealmPasswordDir, kLegacyRealmPasswordDir}) {
    const std::string p = std::string(dir) + realm + ".pw";
    if (impl_->store.read(p)) impl_->store.remove(p);
  }
}

std::map<std::string, AuthService::TfaLockState> AuthService::tfa_lock_states() {
  std::map<std::string, TfaLockState> out;
  for (const auto& [userid, state] : tfa_lock_states_of(impl_->store)) {
    out[userid] = TfaLockState{.locked_until = state.first, .totp_locked = state.second};
  }
  return out;
}

void AuthService::remove_tfa_user(const std::string& userid) { tfa_forget_user(impl_->store, userid); }

}  // namespace pvx::auth
