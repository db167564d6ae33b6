#pragma once
// Secrets: random bytes, API-token secrets and password hashes.
//
// Hashes are crypt(3) SHA-256 ("$5$<16 char salt>$..."), the format PVE writes to
// priv/shadow.cfg; verification accepts any scheme the system's libcrypt knows.
#include <cstddef>
#include <string>
#include <string_view>

namespace pvx::auth {

// Cryptographically secure random bytes (OpenSSL RAND); throws Error 500 when the RNG fails.
std::string random_bytes(std::size_t n);
// A random UUID version 4 in lowercase 8-4-4-4-12 form: the API token secret format clients expect.
std::string new_uuid_v4();

std::string hash_password(std::string_view password);
// Constant-time comparison of crypt(password, salt-of-hash) with hash; false for any malformed hash.
bool verify_password(std::string_view password, std::string_view hash);

std::string sha256_hex(std::string_view data);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace pvx::auth
