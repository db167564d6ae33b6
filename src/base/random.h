#pragma once
// Randomness for secrets and identifiers, from OpenSSL's CSPRNG.
#include <cstddef>
#include <string>

namespace pvx {

// Cryptographically secure random bytes; throws Error 500 when the generator fails.
std::string random_bytes(std::size_t n);
// A random RFC 4122 version 4 UUID in lower-case 8-4-4-4-12 form (API token secrets, smbios1
// uuid, vmgenid).
std::string random_uuid();

}  // namespace pvx
