#pragma once
// The relying-party side of WebAuthn (Level 2) for second factors: registration options and
// their verification (attestation formats "none" and "packed"), authentication options and the
// verification of assertions (ES256 credentials: P-256 with SHA-256). CBOR through libcbor,
// signatures through OpenSSL. Errors are pvx::Error with a message saying which check failed.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvx::auth {

struct WebauthnSettings {
  std::string rp_id;    // "pve.example.com": the credential is bound to it
  std::string origin;   // "https://pve.example.com:8006": where the browser ran
  std::string rp_name;  // shown by the authenticator
};

struct WebauthnCredential {
  std::string id;       // raw credential id bytes
  std::string x, y;     // P-256 public key coordinates, 32 bytes each
  std::uint32_t counter = 0;

  // tfa.cfg form: {"cred-id": b64url, "cred": {"type_": "ES256", "key": {"EC_EC2": {"curve":
  // "SECP256R1", "x": [...], "y": [...]}}}, "counter": N}.
  nlohmann::json to_json() const;
  static WebauthnCredential from_json(const nlohmann::json& j);
};

std::string base64url_encode(std::string_view bytes);
std::string base64url_decode(std::string_view text);  // padding optional; throws Error on bad input

// A fresh random challenge (32 bytes, base64url).
std::string webauthn_challenge();

// navigator.credentials.create() options: {"publicKey": {...}}.
nlohmann::json webauthn_registration_options(const WebauthnSettings& s, const std::string& userid,
                                             const std::string& challenge, const std::vector<WebauthnCredential>& existing);
// Checks a PublicKeyCredential from create() against `challenge`; returns the new credential.
WebauthnCredential webauthn_verify_registration(const WebauthnSettings& s, const std::string& challenge,
                                                const nlohmann::json& credential);

// navigator.credentials.get() options: {"publicKey": {...}}.
nlohmann::json webauthn_authentication_options(const WebauthnSettings& s, const std::string& challenge,
                                               const std::vector<WebauthnCredential>& allowed);
// Checks an assertion against `challenge` and the credential it names (which must be in
// `allowed`); returns the index of that credential, whose counter is updated.
std::size_t webauthn_verify_assertion(const WebauthnSettings& s, const std::string& challenge,
                                      const nlohmann::json& assertion, std::vector<WebauthnCredential>& allowed);

}  // namespace pvx::auth
