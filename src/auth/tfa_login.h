#pragma once
// Second factors over the store: the login step (PVE's authenticate_2nd_new) and the management
// calls of /access/tfa. State lives in priv/tfa.cfg (written under its store lock when a recovery
// key is used up, a WebAuthn counter or TOTP step moves, or failures lock a user) plus, as in PVE,
// per-node state that is not worth sharing: pending WebAuthn challenges (2 minutes) and failure
// counters, kept in memory.
//
// Realms may enforce TFA (`tfa type=oath` in domains.cfg): the user then needs TOTP, from the
// `keys` of user.cfg (PVE's legacy place) or from tfa.cfg; `type=yubico` is refused as not supported.
// WebAuthn needs a relying party: `webauthn: rp=...,origin=...,id=...` in datacenter.cfg (or
// tfa.cfg's own "webauthn" object).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvx::cluster { class ConfigStore; }

namespace pvx::auth {

struct Realm;
struct UserEntry;

// ---- login ----
// The challenge JSON (what the half-authenticated ticket carries) when a second factor is
// needed; nullopt when the user has none, or when `otp` answered it already. Throws Error when
// `otp` is wrong or the realm requires TFA the user has not set up.
std::optional<std::string> tfa_login_challenge(cluster::ConfigStore& store, const std::string& userid,
                                               const UserEntry& user, const Realm& realm,
                                               const std::optional<std::string>& otp, std::int64_t now);

// Checks `response` ("totp:123456", "recovery:xxxx-...", "webauthn:{...}") against `challenge`
// (from the ticket); throws Error when it is wrong.
void tfa_login_verify(cluster::ConfigStore& store, const std::string& userid, const UserEntry& user, const Realm& realm,
                      const std::string& challenge, const std::string& response, std::int64_t now);

// ---- state shown with users ----
// userid -> {tfa-locked-until (0 = not locked), totp-locked}, for the users tfa.cfg knows.
std::map<std::string, std::pair<std::int64_t, bool>> tfa_lock_states_of(cluster::ConfigStore& store);
// Removes the user's entries (the user was deleted).
void tfa_forget_user(cluster::ConfigStore& store, const std::string& userid);

// ---- /access/tfa ----
// [{userid, entries, tfa-locked-until?, totp-locked?}] for users `visible` accepts.
nlohmann::json tfa_list(cluster::ConfigStore& store, const std::function<bool(const std::string&)>& visible);
nlohmann::json tfa_list_user(cluster::ConfigStore& store, const std::string& userid);
nlohmann::json tfa_get_entry(cluster::ConfigStore& store, const std::string& userid, const std::string& id);

struct TfaAddRequest {
  std::string type;  // totp, recovery, webauthn, yubico, u2f
  std::string description;
  std::optional<std::string> totp;       // otpauth URI
  std::optional<std::string> value;      // TOTP code, WebAuthn credential JSON, Yubico key id
  std::optional<std::string> challenge;  // WebAuthn: the challenge of the first call
};
// {id} / {id: "recovery", recovery: [keys]} / {id: "", challenge: "<options JSON>"} (WebAuthn, first call).
nlohmann::json tfa_add(cluster::ConfigStore& store, const std::string& userid, const TfaAddRequest& request,
                       std::int64_t now);
void tfa_update(cluster::ConfigStore& store, const std::string& userid, const std::string& id,
                const std::optional<std::string>& description, std::optional<bool> enable);
void tfa_delete(cluster::ConfigStore& store, const std::string& userid, const std::string& id);
// Clears TOTP and TFA lockouts; whether the user was locked.
bool tfa_unlock(cluster::ConfigStore& store, const std::string& userid);

// GET /access/users/{userid}/tfa: {realm?: "oath"|"yubico", types?: [...], user?: "oath"|"u2f"}.
nlohmann::json tfa_user_types(cluster::ConfigStore& store, const std::string& userid, const Realm* realm, bool multiple);

}  // namespace pvx::auth
