#pragma once
// TOTP (RFC 6238 over RFC 4226 HOTP) with the `otpauth://totp/...` key URIs authenticator apps
// and Proxmox VE's tfa.cfg use. HMAC through OpenSSL.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pvx::auth {

struct TotpKey {
  std::string secret;  // raw key bytes
  std::string algorithm = "SHA1";  // SHA1, SHA256, SHA512
  int digits = 6;
  int period = 30;
  std::string issuer;
  std::string account;

  // Throws Error 400 naming `totp` for a URI that is not a usable TOTP key.
  static TotpKey from_uri(std::string_view uri);
  std::string to_uri() const;

  // The code for time step `counter` (now / period).
  std::string code_at(std::int64_t counter) const;
  // The time step `value` matches within `window` steps of `now` (RFC 6238's allowed skew), or nullopt.
  std::optional<std::int64_t> verify(std::string_view value, std::int64_t now, int window = 1) const;
};

std::string base32_encode(std::string_view bytes);  // RFC 4648, without padding
std::optional<std::string> base32_decode(std::string_view text);  // case-insensitive, padding optional

}  // namespace pvx::auth
