#pragma once
// The relying party of an `openid` realm (OpenID Connect authorization-code flow with PKCE):
// the issuer's discovery document, the authorization URL, the code exchange at the token
// endpoint, and the ID token's checks: its signature against the issuer's JWKS (RS256/384/512,
// PS256/384/512, ES256/384), issuer, audience, expiry and nonce. HTTP through libcurl with
// certificate verification (PVX_OPENID_CA_FILE adds a trust anchor, for test providers).
// Blocking: call from worker threads.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvx::auth {

struct Realm;

struct OpenIdSettings {
  std::string realm;
  std::string issuer_url;
  std::string client_id;
  std::string client_key;        // empty: a public client
  std::string scopes = "email profile";
  std::string prompt, acr_values;
  std::string username_claim;    // subject (default), username, email, or a claim name
  std::string groups_claim;
  bool query_userinfo = true;
  std::vector<std::string> audiences;  // accepted besides client_id

  static OpenIdSettings from_realm(const Realm& realm);
};

// What the first call keeps until the provider redirects back.
struct OpenIdPending {
  std::string realm, state, nonce, verifier, redirect_url;
  std::int64_t expires = 0;
};

// The authorization URL to send the browser to, and what to keep for finish.
std::string openid_auth_url(const OpenIdSettings& s, const std::string& redirect_url, OpenIdPending& pending,
                            std::int64_t now);

// Exchanges the code and checks the ID token; returns its claims (merged with the userinfo
// endpoint's when query_userinfo). Throws Error with the failed check.
nlohmann::json openid_finish(const OpenIdSettings& s, const OpenIdPending& pending, const std::string& code,
                             std::int64_t now);

// The user name part of the userid (before "@realm"), from the configured claim.
std::string openid_username(const OpenIdSettings& s, const nlohmann::json& claims);
// The groups of the groups claim as pvx group ids ("<name>-<realm>", other characters as '_').
std::vector<std::string> openid_groups(const OpenIdSettings& s, const nlohmann::json& claims);

// A JWT's claims after checking its signature with `jwks` (exposed for tests).
nlohmann::json verify_jwt(const std::string& token, const nlohmann::json& jwks);

// Pending logins by state, 10 minutes, each taken once. Thread-safe, in memory (per node, as PVE's).
void openid_pending_put(const OpenIdPending& pending);
std::optional<OpenIdPending> openid_pending_take(const std::string& state, std::int64_t now);

}  // namespace pvx::auth
