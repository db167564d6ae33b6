#include "auth/password_hash.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <memory>

#include "base/error.h"
#include "base/random.h"

namespace pvx::auth {

std::string hash_password(std::string_view password) {
  static constexpr char kSaltChars[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string salt = "$5$";
  for (unsigned char c : random_bytes(16)) salt += kSaltChars[c % 64];
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: keep it off the stack
  const char* h = crypt_r(std::string(password).c_str(), salt.c_str(), data.get());
  if (!h || h[0] == '*') throw Error("unable to hash password", 500);
  return h;
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (hash.size() < 3 || hash[0] != '$') return false;  // no legacy DES, no "*" / "!" locks
  auto data = std::make_unique<crypt_data>();
  const char* h = crypt_r(std::string(password).c_str(), std::string(hash).c_str(), data.get());
  if (!h || h[0] == '*') return false;
  return constant_time_equal(h, hash);
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    throw Error("sha256 failed", 500);
  }
  std::string out;
  char hex[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    out += hex;
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace pvx::auth
