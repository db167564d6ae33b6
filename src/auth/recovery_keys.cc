#include "auth/recovery_keys.h"

#include <cctype>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/error.h"
#include "base/random.h"

namespace pvx::auth {

namespace {

std::string to_hex(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

std::string digest(const std::string& secret_hex, const std::string& key) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret_hex.data(), static_cast<int>(secret_hex.size()),
            reinterpret_cast<const unsigned char*>(key.data()), key.size(), mac, &len)) {
    throw Error("HMAC failed");
  }
  return to_hex(std::string_view(reinterpret_cast<const char*>(mac), len));
}

}  // namespace

RecoverySet generate_recovery_keys(std::int64_t now, int count) {
  RecoverySet set;
  const std::string secret = to_hex(random_bytes(32));
  nlohmann::json entries = nlohmann::json::array();
  for (int i = 0; i < count; ++i) {
    const std::string raw = to_hex(random_bytes(8));
    const std::string key = raw.substr(0, 4) + "-" + raw.substr(4, 4) + "-" + raw.substr(8, 4) + "-" + raw.substr(12, 4);
    set.keys.push_back(key);
    entries.push_back(digest(secret, key));
  }
  set.stored = {{"secret", secret}, {"entries", entries}, {"created", now}};
  return set;
}

std::vector<int> recovery_available(const nlohmann::json& stored) {
  std::vector<int> out;
  const auto& entries = stored.value("entries", nlohmann::json::array());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].is_string()) out.push_back(static_cast<int>(i));
  }
  return out;
}

bool consume_recovery_key(nlohmann::json& stored, const std::string& key) {
  if (!stored.contains("secret") || !stored.contains("entries")) return false;
  std::string trimmed;
  for (char c : key) {
    if (c != ' ') trimmed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::string want = digest(stored["secret"].get<std::string>(), trimmed);
  for (auto& e : stored["entries"]) {
    if (e.is_string() && e.get<std::string>().size() == want.size() &&
        CRYPTO_memcmp(e.get<std::string>().data(), want.data(), want.size()) == 0) {
      e = nullptr;
      return true;
    }
  }
  return false;
}

}  // namespace pvx::auth
