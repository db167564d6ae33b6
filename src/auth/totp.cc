#include "auth/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <map>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::auth {

namespace {

constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";



const EVP_MD* digest_of(const std::string& algorithm) {
  if (algorithm == "SHA1") return EVP_sha1();
  if (algorithm == "SHA256") return EVP_sha256();
  if (algorithm == "SHA512") return EVP_sha512();
  return nullptr;
}

[[noreturn]] void bad(const std::string& why) { throw Error::param("totp", why); }

}  // namespace

std::string base32_encode(std::string_view bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char ch : text) {
    if (ch == '=' || ch == ' ') continue;
    auto pos = kBase32.find(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
    if (pos == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(pos);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

TotpKey TotpKey::from_uri(std::string_view uri) {
  constexpr std::string_view kPrefix = "otpauth://totp/";
  if (!uri.starts_with(kPrefix)) bad("not an 'otpauth://totp/' URI");
  uri.remove_prefix(kPrefix.size());
  auto q = uri.find('?');
  if (q == std::string_view::npos) bad("the URI has no parameters (secret=...)");
  TotpKey key;
  std::string label = url_decode(uri.substr(0, q));
  if (auto colon = label.find(':'); colon != std::string::npos) {
    key.issuer = label.substr(0, colon);
    key.account = label.substr(colon + 1);
  } else {
    key.account = label;
  }
  std::map<std::string, std::string> params;
  std::string_view query = uri.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    params[url_decode(item.substr(0, eq))] = url_decode(item.substr(eq + 1));
  }
  auto secret = base32_decode(params["secret"]);
  if (!secret || secret->empty()) bad("missing or invalid base32 'secret'");
  key.secret = *secret;
  if (params.count("algorithm")) {
    key.algorithm = params["algorithm"];
    for (auto& c : key.algorithm) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!digest_of(key.algorithm)) bad("unsupported algorithm '" + params["algorithm"] + "'");
  }
  try {
    if (params.count("digits")) key.digits = std::stoi(params["digits"]);
    if (params.count("period")) key.period = std::stoi(params["period"]);
  } catch (const std::exception&) {
    bad("invalid digits or period");
  }
  if (key.digits < 6 || key.digits > 8) bad("digits must be 6 to 8");
  if (key.period < 1 || key.period > 600) bad("period must be 1 to 600 seconds");
  if (params.count("issuer") && key.issuer.empty()) key.issuer = params["issuer"];
  return key;
}

std::string TotpKey::to_uri() const {
  std::string label = issuer.empty() ? account : issuer + ":" + account;
  std::string uri = "otpauth://totp/" + url_encode(label) + "?secret=" + base32_encode(secret) +
                    "&digits=" + std::to_string(digits) + "&period=" + std::to_string(period) +
                    "&algorithm=" + algorithm;
  if (!issuer.empty()) uri += "&issuer=" + url_encode(issuer);
  return uri;
}

std::string TotpKey::code_at(std::int64_t counter) const {
  unsigned char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(digest_of(algorithm), secret.data(), static_cast<int>(secret.size()), msg, sizeof msg, mac, &len)) {
    throw Error("HMAC failed");
  }
  const int offset = mac[len - 1] & 0x0f;
  std::uint32_t bin = (static_cast<std::uint32_t>(mac[offset] & 0x7f) << 24) |
                      (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                      (static_cast<std::uint32_t>(mac[offset + 2]) << 8) | mac[offset + 3];
  std::uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  std::string code = std::to_string(bin % mod);
  return std::string(static_cast<size_t>(digits) - code.size(), '0') + code;
}

std::optional<std::int64_t> TotpKey::verify(std::string_view value, std::int64_t now, int window) const {
  if (value.size() != static_cast<size_t>(digits)) return std::nullopt;
  const std::int64_t step = now / period;
  for (int d = -window; d <= window; ++d) {
    const std::string expected = code_at(step + d);
    // Compared in full, so timing says nothing about a partly right code.
    unsigned diff = 0;
    for (size_t i = 0; i < expected.size(); ++i) diff |= static_cast<unsigned>(expected[i] ^ value[i]);
    if (diff == 0) return step + d;
  }
  return std::nullopt;
}

}  // namespace pvx::auth
