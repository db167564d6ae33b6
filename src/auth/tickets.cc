#include "auth/tickets.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdio>

#include "auth/password_hash.h"
#include "base/error.h"
#include "base/strings.h"

namespace pvx::auth {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string hex_time(std::int64_t now) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08llX", static_cast<unsigned long long>(now));
  return buf;
}

// 8 uppercase hex digits, as PVE writes them (PVE's check also lets 'G'-'Z' through the
// pattern, but hex() would misread them; we refuse them).
std::optional<std::int64_t> parse_hex_time(std::string_view s) {
  if (s.size() != 8) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v * 16 + d;
  }
  return v;
}

bool fresh(std::int64_t stamp, std::int64_t now) {
  std::int64_t age = now - stamp;
  return age > -kTicketClockSkew && age < kTicketLifetime;
}

bool has_space(std::string_view s) {
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') return true;
  }
  return false;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), md, &len)) {
    throw Error("HMAC failed", 500);
  }
  return std::string(reinterpret_cast<char*>(md), len);
}

// Digest::SHA's *_base64 helpers: base64 without '=' padding.
std::string base64_unpadded(std::string_view data) {
  std::string out = base64_encode(data);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

}  // namespace

struct TicketKey::Impl {
  PkeyPtr key{nullptr, EVP_PKEY_free};
  bool is_private = false;
};

TicketKey::TicketKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TicketKey::~TicketKey() = default;

RsaKeyPair generate_rsa_key_pair(int bits) {
  PkeyPtr key(EVP_RSA_gen(static_cast<unsigned>(bits)), EVP_PKEY_free);
  if (!key) throw Error("unable to generate RSA key", 500);
  BioPtr pub(BIO_new(BIO_s_mem()), BIO_free), priv(BIO_new(BIO_s_mem()), BIO_free);
  if (!pub || !priv || PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1 ||
      PEM_write_bio_PrivateKey_traditional(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw Error("unable to encode RSA key", 500);
  }
  return {bio_text(pub.get()), bio_text(priv.get())};
}

std::shared_ptr<const TicketKey> TicketKey::from_private_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  auto impl = std::make_unique<Impl>();
  if (bio) impl->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!impl->key || EVP_PKEY_get_base_id(impl->key.get()) != EVP_PKEY_RSA) {
    throw Error("invalid auth key (private)", 500);
  }
  impl->is_private = true;
  return std::shared_ptr<const TicketKey>(new TicketKey(std::move(impl)));
}

std::shared_ptr<const TicketKey> TicketKey::from_public_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  auto impl = std::make_unique<Impl>();
  if (bio) impl->key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!impl->key || EVP_PKEY_get_base_id(impl->key.get()) != EVP_PKEY_RSA) {
    throw Error("invalid auth key (public)", 500);
  }
  return std::shared_ptr<const TicketKey>(new TicketKey(std::move(impl)));
}

bool TicketKey::can_sign() const { return impl_->is_private; }

std::string TicketKey::sign(std::string_view data) const {
  if (!impl_->is_private) throw Error("auth key cannot sign", 500);
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    throw Error("unable to sign ticket", 500);
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    throw Error("unable to sign ticket", 500);
  }
  sig.resize(len);
  return sig;
}

bool TicketKey::verify(std::string_view data, std::string_view signature) const {
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
}

std::string assemble_ticket(const TicketKey& key, std::string_view data, std::int64_t now, std::string_view aad) {
  std::string escaped;
  // PVE escapes only ':'; a space (possible in challenge JSON) would end the ticket, so pvx
  // escapes it too. Both decode the same way.
  for (char c : data) escaped += c == ':' ? std::string("%3A") : c == ' ' ? std::string("%20") : std::string(1, c);
  std::string plain = "PVE:" + escaped + ":" + hex_time(now);
  std::string signed_text = aad.empty() ? plain : plain + ":" + std::string(aad);
  return plain + "::" + base64_encode(key.sign(signed_text));
}

std::optional<std::string> verify_ticket(const TicketKey& key, std::string_view ticket, std::int64_t now,
                                         std::string_view aad) {
  if (has_space(ticket)) return std::nullopt;
  auto sep = ticket.rfind("::");
  if (sep == std::string_view::npos || !ticket.starts_with("PVE:")) return std::nullopt;
  std::string_view plain = ticket.substr(0, sep), sig = ticket.substr(sep + 2);
  if (sig.empty() || sig.find(':') != std::string_view::npos) return std::nullopt;
  // "PVE:<data>:<time>": check the shape and the age before paying for the RSA verification.
  auto colon = plain.rfind(':');
  if (colon <= 4 || colon == std::string_view::npos) return std::nullopt;
  auto stamp = parse_hex_time(plain.substr(colon + 1));
  if (!stamp || !fresh(*stamp, now)) return std::nullopt;
  std::string raw_sig = base64_decode(sig);
  std::string signed_text = aad.empty() ? std::string(plain) : std::string(plain) + ":" + std::string(aad);
  if (raw_sig.empty() || !key.verify(signed_text, raw_sig)) return std::nullopt;
  return url_decode(plain.substr(4, colon - 4), false);
}

std::string assemble_short_lived_ticket(const TicketKey& key, std::string_view prefix, std::string_view secret_data,
                                        std::int64_t now) {
  std::string plain = std::string(prefix) + ":" + hex_time(now);
  return plain + "::" + base64_encode(key.sign(plain + ":" + std::string(secret_data)));
}

bool verify_short_lived_ticket(const TicketKey& key, std::string_view prefix, std::string_view ticket,
                               std::string_view secret_data, std::int64_t now) {
  if (has_space(ticket) || ticket.size() < prefix.size() + 1 || !ticket.starts_with(prefix) ||
      ticket[prefix.size()] != ':') {
    return false;
  }
  auto sep = ticket.rfind("::");
  if (sep == std::string_view::npos) return false;
  std::string_view plain = ticket.substr(0, sep), sig = ticket.substr(sep + 2);
  if (sig.empty() || sig.find(':') != std::string_view::npos) return false;
  // "<PREFIX>:<time>" (these tickets carry no data part).
  if (plain.size() != prefix.size() + 9) return false;
  auto stamp = parse_hex_time(plain.substr(prefix.size() + 1));
  if (!stamp) return false;
  std::int64_t age = now - *stamp;
  if (age <= -20 || age >= 40) return false;
  std::string raw_sig = base64_decode(sig);
  return !raw_sig.empty() && key.verify(std::string(plain) + ":" + std::string(secret_data), raw_sig);
}

std::string csrf_secret_from_key_file(std::string_view key_file) { return base64_unpadded(hmac_sha256("", key_file)); }

std::string assemble_csrf_token(std::string_view secret, std::string_view userid, std::int64_t now) {
  std::string stamp = hex_time(now);
  return stamp + ":" + base64_unpadded(hmac_sha256(secret, stamp + ":" + std::string(userid)));
}

bool verify_csrf_token(std::string_view secret, std::string_view userid, std::string_view token, std::int64_t now) {
  if (token.size() < 10 || token[8] != ':' || has_space(token)) return false;
  auto stamp = parse_hex_time(token.substr(0, 8));
  if (!stamp || !fresh(*stamp, now)) return false;
  std::string expected = base64_unpadded(hmac_sha256(secret, std::string(token.substr(0, 8)) + ":" + std::string(userid)));
  return constant_time_equal(expected, token.substr(9));
}

}  // namespace pvx::auth
