#pragma once
// Login tickets and CSRF prevention tokens in PVE's formats.
//
//   ticket: "PVE:<userid with ':' as %3A>:<8 uppercase hex unix time>::<base64 RSA-SHA256 signature>"
//           (PKCS#1 v1.5 signature over everything before "::")
//   CSRF:   "<8 uppercase hex unix time>:<base64 HMAC-SHA256(secret, "<time>:<userid>"), unpadded>"
// Both are valid while now - time lies in (-5 min, 2 h): the lifetime plus a clock-skew allowance.
// Time is passed in so that tests can move it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pvx::auth {

inline constexpr std::int64_t kTicketLifetime = 2 * 3600;
inline constexpr std::int64_t kTicketClockSkew = 5 * 60;

struct RsaKeyPair {
  std::string public_pem;   // "-----BEGIN PUBLIC KEY-----" (SubjectPublicKeyInfo)
  std::string private_pem;  // "-----BEGIN RSA PRIVATE KEY-----"
};
// Throws Error 500 when OpenSSL fails.
RsaKeyPair generate_rsa_key_pair(int bits = 2048);

// A parsed RSA key: the private key signs, either kind verifies. Immutable once built, so it is
// shared between request threads without locking. OpenSSL stays inside tickets.cc.
class TicketKey {
 public:
  // Throw Error 500 for a PEM that does not hold an RSA key.
  static std::shared_ptr<const TicketKey> from_private_pem(std::string_view pem);
  static std::shared_ptr<const TicketKey> from_public_pem(std::string_view pem);
  ~TicketKey();

  bool can_sign() const;
  std::string sign(std::string_view data) const;  // raw signature bytes; throws for a public key
  bool verify(std::string_view data, std::string_view signature) const;

 private:
  struct Impl;
  explicit TicketKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `data` is the userid, or for a half-authenticated login "!tfa!<challenge JSON>". `aad` (PVE's
// additional authenticated data: the userid of such a login) is signed but not written into the
// ticket, so the ticket verifies only for the same user.
std::string assemble_ticket(const TicketKey& key, std::string_view data, std::int64_t now, std::string_view aad = {});
// The data (userid) of a ticket signed by `key` (with the same `aad`) and valid at `now`.
std::optional<std::string> verify_ticket(const TicketKey& key, std::string_view ticket, std::int64_t now,
                                         std::string_view aad = {});

// Short-lived tickets (PVE's VNC and tunnel tickets): "<PREFIX>:<8 hex time>::<base64 signature>"
// where the signature covers "<PREFIX>:<time>:<secret_data>"; the secret data (for VNC
// "<userid>:<path>:<port>") is not in the ticket, so the verifier must know it. Valid while
// now - time lies in (-20 s, 40 s), PVE's window: they are used at once or not at all.
std::string assemble_short_lived_ticket(const TicketKey& key, std::string_view prefix, std::string_view secret_data,
                                        std::int64_t now);
bool verify_short_lived_ticket(const TicketKey& key, std::string_view prefix, std::string_view ticket,
                               std::string_view secret_data, std::int64_t now);

// The HMAC key derived from the contents of pve-www.key the way PVE derives it, so a key file
// copied from a PVE node yields the same tokens.
std::string csrf_secret_from_key_file(std::string_view key_file);
std::string assemble_csrf_token(std::string_view secret, std::string_view userid, std::int64_t now);
bool verify_csrf_token(std::string_view secret, std::string_view userid, std::string_view token, std::int64_t now);

}  // namespace pvx::auth
