#pragma once
// The second factor of a login (PVE's authenticate_2nd_new): decides whether a user who gave the
// right password still needs a second factor, and checks the answer. State lives in
// priv/tfa.cfg (written under its store lock when a recovery key is used up, a WebAuthn counter
// moves or failures lock TOTP), plus the realm's `tfa` setting (type=oath: TOTP from the user's
// `keys` in user.cfg; type=yubico: not supported).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace pvx::cluster { class ConfigStore; }

namespace pvx::auth {

struct Realm;
struct UserEntry;

// The challenge JSON (what the half-authenticated ticket carries) when a second factor is
// needed; nullopt when the user has none, or when `otp` answered it already. Throws Error when
// `otp` is wrong or the realm requires TFA the user has not set up.
std::optional<std::string> tfa_login_challenge(cluster::ConfigStore& store, const std::string& userid,
                                               const UserEntry& user, const Realm& realm,
                                               const std::optional<std::string>& otp, std::int64_t now);

// Checks `response` against `challenge` (from the ticket); throws Error when it is wrong.
void tfa_login_verify(cluster::ConfigStore& store, const std::string& userid, const UserEntry& user, const Realm& realm,
                      const std::string& challenge, const std::string& response, std::int64_t now);

// {tfa-locked-until (0 = not locked), totp-locked} of the user, from priv/tfa.cfg.
std::pair<std::int64_t, bool> tfa_user_lock_state(cluster::ConfigStore& store, const std::string& userid);
// Removes the user's entries from priv/tfa.cfg (the user was deleted).
void tfa_forget_user(cluster::ConfigStore& store, const std::string& userid);

}  // namespace pvx::auth
