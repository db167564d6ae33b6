#pragma once
// Recovery keys as Proxmox VE keeps them in tfa.cfg: a set of ten one-time keys
// ("a1b2-c3d4-e5f6-0718"), stored only as HMAC-SHA256 digests under a per-set secret; a used
// key's slot becomes null, so each key works once.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvx::auth {

struct RecoverySet {
  nlohmann::json stored;           // {"secret": hex, "entries": [hex|null, ...], "created": epoch}
  std::vector<std::string> keys;   // the plain keys, shown once to the user
};

RecoverySet generate_recovery_keys(std::int64_t now, int count = 10);

// The indexes still usable (PVE's challenge lists them as "recovery": [0, 2, ...]).
std::vector<int> recovery_available(const nlohmann::json& stored);

// Marks the matching key used and returns true; false when no unused key matches.
bool consume_recovery_key(nlohmann::json& stored, const std::string& key);

}  // namespace pvx::auth
