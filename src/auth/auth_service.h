#pragma once
// Authentication and authorization for the API: logins (pam and pve realms), tickets, CSRF
// tokens, API tokens, and privilege evaluation over user.cfg with PVE's ACL semantics.
//
// State lives in the ConfigStore at PVE's paths: user.cfg, domains.cfg, priv/shadow.cfg (pve
// realm password hashes), priv/token.cfg (API token secrets, stored only as hashes),
// authkey.pub + priv/authkey.key (ticket signing key), priv/pve-www.key (CSRF secret).
// The parsed user.cfg is cached and rebuilt when the store's version of the file changes; the
// parsed keys are cached until a store watch reports a change (see cached_file.h).
// Writers of user.cfg, priv/shadow.cfg and priv/token.cfg hold the store locks "file-user_cfg",
// "file-priv_shadow_cfg", "file-priv_token_cfg" (PVE's cfs_lock_file names) and write with
// compare-and-swap.
// Thread-safe. login() may block (PAM): call it from the worker pool.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "auth/identity.h"

namespace pvx::cluster { class ConfigStore; }

namespace pvx::auth {

struct UserConfig;
struct RealmList;

struct LoginRequest {
  std::string username;  // "name@realm"
  // The password; or a valid ticket of the same user (renewal); or, with `tfa_challenge`, the
  // second factor's response ("totp:123456", "recovery:...", "webauthn:{...}").
  std::string password;
  std::optional<std::string> otp;            // a TOTP code given with the password (one step)
  std::optional<std::string> tfa_challenge;  // the half-authenticated ticket of the first step
  std::string client;                        // source address, for the failure limits
};

struct LoginResult {
  std::string username;
  std::string ticket;  // with need_tfa: the half-authenticated ticket to answer with
  std::string csrf_token;
  bool need_tfa = false;
};

class AuthService {
 public:
  explicit AuthService(cluster::ConfigStore& store);
  ~AuthService();

  // First start: creates the signing keys, the CSRF secret, domains.cfg (pam, pve) and user.cfg
  // with root@pam and an Administrator ACL on "/" when they are missing. Idempotent.
  void initialize();

  // ---- logins ----
  // `password` may also be a valid ticket of the same user (ticket renewal). Throws Error 401
  // "authentication failure" on any failure (without saying which part was wrong).
  // Failures are counted per user and per source address (LoginLimiter) and logged without the
  // password. A user with second factors (priv/tfa.cfg, or a realm that enforces TFA) first gets
  // a half-authenticated ticket (need_tfa), which the second call answers in `tfa_challenge`.
  LoginResult login(const LoginRequest& request);
  LoginResult login(const std::string& username, const std::string& password,
                    const std::optional<std::string>& realm = std::nullopt);
  // The first factor alone (the caller's confirmation password of PVE's user-modifying calls).
  bool verify_password_only(const std::string& userid, const std::string& password, const std::string& client);
  // A full ticket for a user authenticated elsewhere (an OpenID provider); the user must be active.
  LoginResult issue_login(const std::string& userid);

  // ---- request authentication ----
  // A valid, unexpired ticket (2 h, 5 min skew) of an enabled, unexpired user.
  std::optional<Identity> verify_ticket(std::string_view ticket);
  std::string csrf_token(const std::string& user);
  bool verify_csrf(const std::string& user, std::string_view token);
  // The value after "PVEAPIToken=" (or "PVEAPIToken "): "user@realm!tokenid=SECRET".
  std::optional<Identity> verify_api_token(std::string_view value);

  // ---- VNC tickets (vncproxy/termproxy -> vncwebsocket), PVE's format and 40 s lifetime ----
  // Bound to the user, the ACL path ("/vms/100") and the proxy port; the user is not readable
  // from the ticket.
  std::string assemble_vnc_ticket(const std::string& user, const std::string& path, int port);
  // Also accepts the "<8-char password>:PVEVNC:..." form vncproxy answers with.
  bool verify_vnc_ticket(std::string_view ticket, const std::string& user, const std::string& path, int port);

  // ---- permissions ----
  std::set<std::string> privileges(const Identity& who, std::string_view path);
  bool check(const Identity& who, std::string_view path, const std::vector<std::string>& privs, bool any);
  // /access/permissions: {path: {priv: propagate(0|1)}} for all ACL paths (or one path).
  nlohmann::json permissions(const Identity& who, const std::optional<std::string>& path);
  // The "cap" map of a login answer: {"vms": {...}, "storage": {...}, "access": {...}, "nodes": {...},
  // "dc": {...}, "sdn": {...}, "mapping": {...}}.
  nlohmann::json capabilities(const Identity& who);

  // ---- management used by first start, tests and the access-control API ----
  void set_password(const std::string& userid, const std::string& password);  // pve realm
  // Creates the token (and the user entry must exist); returns the secret (lowercase UUIDv4).
  std::string create_token(const std::string& userid, const std::string& tokenid, bool privsep,
                           std::int64_t expire = 0, const std::string& comment = {});

  // The current parsed user.cfg (see user_config.h), for list endpoints and management code.
  std::shared_ptr<const UserConfig> user_config();
  // Read-modify-write of user.cfg under its store lock with compare-and-swap. `edit` may throw
  // pvx::Error to refuse the change; nothing is written then.
  void update_user_config(const std::function<void(UserConfig&)>& edit);
  // Removes the token from user.cfg and its secret from priv/token.cfg.
  void remove_token(const std::string& userid, const std::string& tokenid);
  // Removes a user with its tokens, group memberships, ACL entries and pve-realm password.
  void remove_user(const std::string& userid);

  // ---- second factors: priv/tfa.cfg ----
  struct TfaLockState {
    std::int64_t locked_until = 0;  // unix time until which all TFA of the user is locked
    bool totp_locked = false;       // too many wrong TOTP codes: TOTP locked until unlocked
  };
  // Every user with a lock or TFA entry (one read of priv/tfa.cfg, for listings).
  std::map<std::string, TfaLockState> tfa_lock_states();
  // Forgets the user's second factors (the user was deleted).
  void remove_tfa_user(const std::string& userid);

  // ---- realms: domains.cfg and the LDAP/AD bind passwords in priv/realm/<realm>.pw ----
  std::shared_ptr<const RealmList> realms();
  // Read-modify-write of domains.cfg under its store lock ("file-domains_cfg").
  void update_realms(const std::function<void(RealmList&)>& edit);
  std::optional<std::string> realm_password(const std::string& realm);
  // nullopt removes the stored password.
  void set_realm_password(const std::string& realm, const std::optional<std::string>& password);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pvx::auth
