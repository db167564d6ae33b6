#pragma once
// priv/tfa.cfg: users' second factors in Proxmox VE's JSON document (written by PVE's
// proxmox-tfa), kept as JSON so fields pvx does not use survive a rewrite:
//
//   {"users": {"ana@pve": {
//      "totp": [{"id": "<uuid>", "description": "phone", "created": 1700000000,
//                "entry": "otpauth://totp/...?secret=..."}],      (or {"totp": uri, "last-count": N})
//      "webauthn": [{"id", "description", "created", "entry": {"cred-id", "cred", "counter"}}],
//      "recovery": {"secret": hex, "entries": [hex|null, ...], "created": N},
//      "yubico": [{"id", "description", "created", "entry": "<key id>"}],
//      "totp-locked": true, "tfa-locked-until": N}},
//    "webauthn": {"rp": ..., "origin": ..., "id": ...}}
//
// An entry has "enable": false when disabled (enabled is the default and not written).
// Pure data: no I/O, no locking.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvx::auth {

using TfaDoc = nlohmann::json;

// Lenient: an unreadable file is an empty document (with a warning in `error`).
TfaDoc parse_tfa_cfg(const std::string& text, std::string* error = nullptr);
std::string print_tfa_cfg(const TfaDoc& doc);

// The user's object, or nullptr.
const nlohmann::json* tfa_user(const TfaDoc& doc, const std::string& userid);
nlohmann::json& tfa_user_mut(TfaDoc& doc, const std::string& userid);
bool tfa_user_has_factors(const nlohmann::json* user);

// The API's entry list of a user: [{type, id, description, created, enable}], recovery as one
// entry with id "recovery".
nlohmann::json tfa_entries(const nlohmann::json& user);
// One entry by id (as tfa_entries shows it), or nullopt.
std::optional<nlohmann::json> tfa_entry(const nlohmann::json& user, const std::string& id);
// Description/enable of an entry; false when there is no such entry. Recovery keys cannot be changed.
bool tfa_update_entry(nlohmann::json& user, const std::string& id, const std::optional<std::string>& description,
                      const std::optional<bool> enable);
bool tfa_delete_entry(nlohmann::json& user, const std::string& id);

// A new entry object {"id", "description", "created", "entry"} with a fresh id.
nlohmann::json tfa_new_entry(const std::string& description, nlohmann::json entry, std::int64_t now);

// The otpauth URI of a stored TOTP entry (either stored form).
std::string tfa_totp_uri(const nlohmann::json& entry);

}  // namespace pvx::auth
