#pragma once
// Password hashes (random bytes and UUIDs are in base/random.h).
//
// Hashes are crypt(3) SHA-256 ("$5$<16 char salt>$..."), the format PVE writes to
// priv/shadow.cfg; verification accepts any scheme the system's libcrypt knows.
#include <cstddef>
#include <string>
#include <string_view>

namespace pvx::auth {


std::string hash_password(std::string_view password);
// Constant-time comparison of crypt(password, salt-of-hash) with hash; false for any malformed hash.
bool verify_password(std::string_view password, std::string_view hash);

std::string sha256_hex(std::string_view data);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace pvx::auth
