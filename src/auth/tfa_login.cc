#include "auth/tfa_login.h"

#include <map>
#include <mutex>

#include "auth/domains_config.h"
#include "auth/recovery_keys.h"
#include "auth/tfa_config.h"
#include "auth/totp.h"
#include "auth/user_config.h"
#include "auth/webauthn.h"
#include "base/error.h"
#include "base/log.h"
#include "base/strings.h"
#include "cluster/config_store.h"
#include "config/datacenter_cfg.h"

namespace pvx::auth {

namespace {

using Json = nlohmann::json;

constexpr const char* kTfaCfg = "priv/tfa.cfg";
constexpr std::int64_t kChallengeSeconds = 120;
constexpr int kTotpFailureLimit = 8;     // then TOTP is locked until a recovery key is used
constexpr int kTfaFailureLimit = 100;    // then every second factor is locked ...
constexpr std::int64_t kTfaLockSeconds = 12 * 3600;  // ... for 12 hours

// Per-node state (PVE keeps it under /run): pending WebAuthn challenges and failure counts.
struct Pending {
  std::mutex mutex;
  std::map<std::string, std::map<std::string, std::int64_t>> auth;  // userid -> challenge -> expiry
  struct Registration {
    std::string description;
    std::int64_t expires = 0;
  };
  std::map<std::string, std::map<std::string, Registration>> registrations;
  std::map<std::string, std::pair<int, int>> failures;  // userid -> (totp, tfa)
};
Pending& pending() {
  static Pending p;
  return p;
}

TfaDoc read_doc(cluster::ConfigStore& store) {
  auto e = store.read(kTfaCfg);
  std::string error;
  TfaDoc doc = parse_tfa_cfg(e ? e->data : "", &error);
  if (!error.empty()) log::warn(error);
  return doc;
}

template <typename Fn>
void edit_doc(cluster::ConfigStore& store, Fn&& fn) {
  cluster::update_file(store, kTfaCfg, [&](const std::optional<cluster::FileEntry>& cur) -> std::optional<std::string> {
    TfaDoc doc = parse_tfa_cfg(cur ? cur->data : "");
    if (!fn(doc)) return std::nullopt;
    return print_tfa_cfg(doc);
  });
}

std::optional<WebauthnSettings> webauthn_settings(cluster::ConfigStore& store, const TfaDoc& doc) {
  Json wa;
  if (auto dc = store.read("datacenter.cfg")) {
    auto parsed = config::parse_datacenter_cfg(dc->data);
    if (parsed.config.values.contains("webauthn")) wa = parsed.config.values["webauthn"];
  }
  if (!wa.is_object() && doc.contains("webauthn")) wa = doc["webauthn"];
  if (!wa.is_object() || !wa.contains("origin")) return std::nullopt;
  WebauthnSettings s;
  s.origin = wa.value("origin", "");
  s.rp_name = wa.value("rp", "");
  s.rp_id = wa.value("id", "");
  if (s.rp_id.empty()) {
    // The origin's host, as PVE derives the id when only the origin is set.
    std::string host = s.origin.substr(s.origin.find("://") == std::string::npos ? 0 : s.origin.find("://") + 3);
    s.rp_id = host.substr(0, host.find_first_of(":/"));
  }
  return s;
}

std::vector<WebauthnCredential> credentials(const Json& user, bool enabled_only) {
  std::vector<WebauthnCredential> out;
  for (const auto& e : user.value("webauthn", Json::array())) {
    if (enabled_only && !e.value("enable", true)) continue;
    try {
      out.push_back(WebauthnCredential::from_json(e.at("entry")));
    } catch (const std::exception&) {
      log::warn("tfa: unreadable webauthn entry '" + e.value("id", "") + "'");
    }
  }
  return out;
}

// The realm's `tfa` setting: type=oath|yubico plus step/digits for oath.
std::map<std::string, std::string> realm_tfa(const Realm& realm) {
  std::map<std::string, std::string> out;
  auto v = realm.get("tfa");
  if (!v) return out;
  for (const auto& item : split_any(*v, ",")) {
    auto eq = item.find('=');
    if (eq == std::string::npos) out["type"] = item;
    else out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

// TOTP keys of a realm enforcing oath: the user's `keys` from user.cfg.
std::vector<TotpKey> realm_totp_keys(const UserEntry& user, const std::map<std::string, std::string>& tfa) {
  std::vector<TotpKey> out;
  for (const auto& k : split_any(user.keys, ", ;")) {
    auto secret = base32_decode(k);
    if (!secret || secret->empty()) continue;
    TotpKey key;
    key.secret = *secret;
    if (tfa.count("digits")) key.digits = std::stoi(tfa.at("digits"));
    if (tfa.count("step")) key.period = std::stoi(tfa.at("step"));
    out.push_back(key);
  }
  return out;
}

bool locked_until_now(const Json* user, std::int64_t now) {
  return user && user->value("tfa-locked-until", std::int64_t{0}) > now;
}

// A failed second factor: counted, and past the limits the user is locked as PVE locks.
[[noreturn]] void second_factor_failed(cluster::ConfigStore& store, const std::string& userid, bool was_totp,
                                       std::int64_t now, const std::string& why) {
  bool lock_totp = false, lock_all = false;
  {
    auto& p = pending();
    std::lock_guard lock(p.mutex);
    auto& [totp, tfa] = p.failures[userid];
    if (was_totp) ++totp;
    ++tfa;
    lock_totp = was_totp && totp >= kTotpFailureLimit;
    lock_all = tfa >= kTfaFailureLimit;
  }
  if (lock_totp || lock_all) {
    edit_doc(store, [&](TfaDoc& doc) {
      Json& u = tfa_user_mut(doc, userid);
      if (lock_totp) u["totp-locked"] = true;
      if (lock_all) u["tfa-locked-until"] = now + kTfaLockSeconds;
      return true;
    });
    log::warn("tfa: user " + userid + (lock_all ? " locked out of second factors" : " locked out of TOTP"));
  }
  throw Error("failed 2nd factor: " + why);
}

void succeeded(const std::string& userid) {
  auto& p = pending();
  std::lock_guard lock(p.mutex);
  p.failures.erase(userid);
}

// Checks a TOTP code against the user's entries (and a realm's keys); refuses a code of a time
// step already used, as PVE does.
void verify_totp(cluster::ConfigStore& store, const std::string& userid, const Json* user,
                 const std::vector<TotpKey>& realm_keys, const std::string& code, std::int64_t now) {
  if (user && user->value("totp-locked", false)) throw Error("failed 2nd factor: TOTP is locked");
  for (const auto& key : realm_keys) {
    if (key.verify(code, now)) return;
  }
  std::optional<std::string> matched_id;
  std::int64_t step = 0;
  if (user) {
    for (const auto& e : user->value("totp", Json::array())) {
      if (!e.value("enable", true)) continue;
      TotpKey key;
      try {
        key = TotpKey::from_uri(tfa_totp_uri(e));
      } catch (const Error&) {
        continue;
      }
      if (auto s = key.verify(code, now)) {
        const Json& entry = e["entry"];
        std::int64_t last = entry.is_object() ? entry.value("last-count", std::numeric_limits<std::int64_t>::min())
                                              : std::numeric_limits<std::int64_t>::min();
        if (*s <= last) second_factor_failed(store, userid, true, now, "TOTP code was already used");
        matched_id = e.value("id", "");
        step = *s;
        break;
      }
    }
  }
  if (!matched_id) second_factor_failed(store, userid, true, now, "wrong TOTP code");
  edit_doc(store, [&](TfaDoc& doc) {
    Json& u = tfa_user_mut(doc, userid);
    for (auto& e : u["totp"]) {
      if (e.value("id", "") != *matched_id) continue;
      e["entry"] = Json{{"totp", tfa_totp_uri(e)}, {"last-count", step}};
    }
    return true;
  });
}

}  // namespace

std::optional<std::string> tfa_login_challenge(cluster::ConfigStore& store, const std::string& userid,
                                               const UserEntry& user_entry, const Realm& realm,
                                               const std::optional<std::string>& otp, std::int64_t now) {
  TfaDoc doc = read_doc(store);
  const Json* user = tfa_user(doc, userid);
  auto rtfa = realm_tfa(realm);
  std::vector<TotpKey> realm_keys;
  if (!rtfa.empty()) {
    const std::string type = rtfa["type"];
    if (type == "yubico") throw Error("realm requires yubico authentication, which pvx does not support");
    if (type != "oath" && type != "totp") throw Error("realm requires unknown TFA type '" + type + "'");
    realm_keys = realm_totp_keys(user_entry, rtfa);
  }
  Json challenge = Json::object();
  bool has_totp = !realm_keys.empty();
  if (user) {
    for (const auto& e : user->value("totp", Json::array())) has_totp = has_totp || e.value("enable", true);
    if (user->contains("recovery") && (*user)["recovery"].is_object()) {
      challenge["recovery"] = recovery_available((*user)["recovery"]);
    }
    for (const auto& e : user->value("yubico", Json::array())) {
      if (e.value("enable", true)) challenge["yubico"] = true;
    }
    auto creds = credentials(*user, true);
    if (!creds.empty()) {
      if (auto s = webauthn_settings(store, doc)) {
        const std::string c = webauthn_challenge();
        challenge["webauthn"] = webauthn_authentication_options(*s, c, creds);
        auto& p = pending();
        std::lock_guard lock(p.mutex);
        p.auth[userid][c] = now + kChallengeSeconds;
      } else {
        log::warn("tfa: user " + userid + " has WebAuthn credentials but no webauthn relying party is configured");
      }
    }
  }
  if (has_totp) challenge["totp"] = true;
  if (challenge.empty()) {
    if (!rtfa.empty()) throw Error("missing required 2nd keys");
    return std::nullopt;
  }
  if (locked_until_now(user, now)) throw Error("failed 2nd factor: TFA is locked");
  if (otp) {
    // The one-step form: a TOTP code with the password (what clients send as `otp`).
    std::string code = otp->starts_with("totp:") ? otp->substr(5) : *otp;
    verify_totp(store, userid, user, realm_keys, code, now);
    succeeded(userid);
    return std::nullopt;
  }
  return challenge.dump();
}

void tfa_login_verify(cluster::ConfigStore& store, const std::string& userid, const UserEntry& user_entry,
                      const Realm& realm, const std::string& challenge_text, const std::string& response,
                      std::int64_t now) {
  Json challenge;
  try {
    challenge = Json::parse(challenge_text);
  } catch (const std::exception&) {
    throw Error("bad TFA challenge");
  }
  TfaDoc doc = read_doc(store);
  const Json* user = tfa_user(doc, userid);
  if (locked_until_now(user, now)) throw Error("failed 2nd factor: TFA is locked");
  auto rtfa = realm_tfa(realm);
  auto colon = response.find(':');
  if (colon == std::string::npos) throw Error("bad otp response");
  const std::string type = response.substr(0, colon);
  const std::string value = response.substr(colon + 1);
  if (!rtfa.empty() && type != "recovery" && type != "totp" && !(rtfa["type"] == "oath" && type == "oath")) {
    throw Error("realm requires " + rtfa["type"] + " authentication");
  }
  if (type == "totp") {
    if (!challenge.value("totp", false)) throw Error("no TOTP factor available");
    verify_totp(store, userid, user, rtfa.empty() ? std::vector<TotpKey>{} : realm_totp_keys(user_entry, rtfa), value,
                now);
  } else if (type == "recovery") {
    bool ok = false;
    edit_doc(store, [&](TfaDoc& d) {
      Json& u = tfa_user_mut(d, userid);
      if (!u.contains("recovery") || !consume_recovery_key(u["recovery"], value)) return false;
      // A recovery key lifts the locks, as in PVE.
      u.erase("totp-locked");
      u.erase("tfa-locked-until");
      ok = true;
      return true;
    });
    if (!ok) second_factor_failed(store, userid, false, now, "recovery key not valid (or already used)");
  } else if (type == "webauthn") {
    Json assertion;
    try {
      assertion = Json::parse(value);
    } catch (const std::exception&) {
      throw Error("invalid webauthn response");
    }
    const std::string c = assertion.value("challenge", "");
    {
      auto& p = pending();
      std::lock_guard lock(p.mutex);
      auto& mine = p.auth[userid];
      auto it = mine.find(c);
      const bool valid = it != mine.end() && it->second >= now;
      if (it != mine.end()) mine.erase(it);  // one try per challenge
      if (!valid) throw Error("no such challenge");
    }
    auto s = webauthn_settings(store, doc);
    if (!s || !user) throw Error("no webauthn configuration available");
    auto creds = credentials(*user, true);
    std::size_t index = 0;
    try {
      index = webauthn_verify_assertion(*s, c, assertion, creds);
    } catch (const Error& e) {
      second_factor_failed(store, userid, false, now, e.what());
    }
    const std::string cred_id = base64url_encode(creds[index].id);
    const std::uint32_t counter = creds[index].counter;
    edit_doc(store, [&](TfaDoc& d) {
      for (auto& e : tfa_user_mut(d, userid)["webauthn"]) {
        if (e["entry"].value("cred-id", "") == cred_id) e["entry"]["counter"] = counter;
      }
      return true;
    });
  } else if (type == "yubico" || type == "u2f") {
    throw Error(type + " is not supported by pvx; use TOTP, WebAuthn or recovery keys");
  } else {
    throw Error("bad otp response");
  }
  succeeded(userid);
}

std::map<std::string, std::pair<std::int64_t, bool>> tfa_lock_states_of(cluster::ConfigStore& store) {
  std::map<std::string, std::pair<std::int64_t, bool>> out;
  auto e = store.read(kTfaCfg);
  if (!e) return out;
  TfaDoc doc = parse_tfa_cfg(e->data);
  for (const auto& [userid, u] : doc["users"].items()) {
    out[userid] = {u.value("tfa-locked-until", std::int64_t{0}), u.value("totp-locked", false)};
  }
  return out;
}

void tfa_forget_user(cluster::ConfigStore& store, const std::string& userid) {
  if (!store.read(kTfaCfg)) return;
  edit_doc(store, [&](TfaDoc& doc) { return doc["users"].erase(userid) > 0; });
}

Json tfa_list(cluster::ConfigStore& store, const std::function<bool(const std::string&)>& visible) {
  TfaDoc doc = read_doc(store);
  Json out = Json::array();
  for (const auto& [userid, u] : doc["users"].items()) {
    if (!visible(userid)) continue;
    Json e = {{"userid", userid}, {"entries", tfa_entries(u)}};
    if (u.value("totp-locked", false)) e["totp-locked"] = 1;
    if (auto until = u.value("tfa-locked-until", std::int64_t{0})) e["tfa-locked-until"] = until;
    out.push_back(std::move(e));
  }
  return out;
}

Json tfa_list_user(cluster::ConfigStore& store, const std::string& userid) {
  TfaDoc doc = read_doc(store);
  const Json* u = tfa_user(doc, userid);
  return u ? tfa_entries(*u) : Json::array();
}

Json tfa_get_entry(cluster::ConfigStore& store, const std::string& userid, const std::string& id) {
  TfaDoc doc = read_doc(store);
  const Json* u = tfa_user(doc, userid);
  auto e = u ? tfa_entry(*u, id) : std::nullopt;
  if (!e) throw Error("no such tfa entry '" + id + "'", 500);
  return *e;
}

Json tfa_add(cluster::ConfigStore& store, const std::string& userid, const TfaAddRequest& req, std::int64_t now) {
  Json result;
  if (req.type == "totp") {
    if (!req.totp) throw Error::param("totp", "missing 'totp' URI");
    if (!req.value) throw Error::param("value", "missing current 'value' of the TOTP key");
    TotpKey key = TotpKey::from_uri(*req.totp);
    if (!key.verify(*req.value, now)) throw Error::param("value", "TOTP code does not match the key");
    edit_doc(store, [&](TfaDoc& doc) {
      Json entry = tfa_new_entry(req.description, key.to_uri(), now);
      result = {{"id", entry["id"]}};
      tfa_user_mut(doc, userid)["totp"].push_back(std::move(entry));
      return true;
    });
  } else if (req.type == "recovery") {
    RecoverySet set = generate_recovery_keys(now);
    edit_doc(store, [&](TfaDoc& doc) {
      Json& u = tfa_user_mut(doc, userid);
      if (u.contains("recovery") && u["recovery"].is_object()) throw Error("user already has recovery keys", 500);
      u["recovery"] = set.stored;
      return true;
    });
    result = {{"id", "recovery"}, {"recovery", set.keys}};
  } else if (req.type == "webauthn") {
    TfaDoc doc = read_doc(store);
    auto s = webauthn_settings(store, doc);
    if (!s) throw Error("no webauthn configuration available (set 'webauthn' in datacenter.cfg)", 500);
    const Json* u = tfa_user(doc, userid);
    auto existing = u ? credentials(*u, false) : std::vector<WebauthnCredential>{};
    auto& p = pending();
    if (!req.challenge) {
      const std::string c = webauthn_challenge();
      {
        std::lock_guard lock(p.mutex);
        p.registrations[userid][c] = {req.description, now + kChallengeSeconds};
      }
      return Json{{"id", ""}, {"challenge", webauthn_registration_options(*s, userid, c, existing).dump()}};
    }
    if (!req.value) throw Error::param("value", "missing the authenticator's response");
    // The challenge of the first call, given back as the options JSON or as the bare challenge.
    std::string c = *req.challenge;
    try {
      Json j = Json::parse(c);
      c = j.at("publicKey").at("challenge").get<std::string>();
    } catch (const std::exception&) {
    }
    Pending::Registration reg;
    {
      std::lock_guard lock(p.mutex);
      auto& mine = p.registrations[userid];
      auto it = mine.find(c);
      if (it == mine.end() || it->second.expires < now) throw Error("no such challenge", 500);
      reg = it->second;
      mine.erase(it);
    }
    Json response;
    try {
      response = Json::parse(*req.value);
    } catch (const std::exception&) {
      throw Error::param("value", "not a JSON credential");
    }
    WebauthnCredential cred;
    try {
      cred = webauthn_verify_registration(*s, c, response);
    } catch (const nlohmann::json::exception&) {
      throw Error::param("value", "not a WebAuthn credential (wrong JSON shape)");
    }
    for (const auto& e : existing) {
      if (e.id == cred.id) throw Error("this credential is already registered", 500);
    }
    edit_doc(store, [&](TfaDoc& d) {
      Json entry = tfa_new_entry(req.description.empty() ? reg.description : req.description, cred.to_json(), now);
      result = {{"id", entry["id"]}};
      tfa_user_mut(d, userid)["webauthn"].push_back(std::move(entry));
      return true;
    });
  } else if (req.type == "yubico") {
    if (!req.value || req.value->empty()) throw Error::param("value", "missing the Yubico key id");
    edit_doc(store, [&](TfaDoc& doc) {
      Json entry = tfa_new_entry(req.description, *req.value, now);
      result = {{"id", entry["id"]}};
      tfa_user_mut(doc, userid)["yubico"].push_back(std::move(entry));
      return true;
    });
  } else {
    throw Error::param("type", "'" + req.type + "' entries are not supported; use totp, webauthn or recovery");
  }
  return result;
}

void tfa_update(cluster::ConfigStore& store, const std::string& userid, const std::string& id,
                const std::optional<std::string>& description, std::optional<bool> enable) {
  edit_doc(store, [&](TfaDoc& doc) {
    if (!tfa_user(doc, userid) || !tfa_update_entry(tfa_user_mut(doc, userid), id, description, enable)) {
      throw Error("no such tfa entry '" + id + "'", 500);
    }
    return true;
  });
}

void tfa_delete(cluster::ConfigStore& store, const std::string& userid, const std::string& id) {
  edit_doc(store, [&](TfaDoc& doc) {
    if (!tfa_user(doc, userid) || !tfa_delete_entry(tfa_user_mut(doc, userid), id)) {
      throw Error("no such tfa entry '" + id + "'", 500);
    }
    return true;
  });
}

bool tfa_unlock(cluster::ConfigStore& store, const std::string& userid) {
  bool was_locked = false;
  edit_doc(store, [&](TfaDoc& doc) {
    if (!tfa_user(doc, userid)) return false;
    Json& u = tfa_user_mut(doc, userid);
    was_locked = u.value("totp-locked", false) || u.value("tfa-locked-until", std::int64_t{0}) != 0;
    u.erase("totp-locked");
    u.erase("tfa-locked-until");
    return was_locked;
  });
  auto& p = pending();
  std::lock_guard lock(p.mutex);
  p.failures.erase(userid);
  return was_locked;
}

Json tfa_user_types(cluster::ConfigStore& store, const std::string& userid, const Realm* realm, bool multiple) {
  Json out = Json::object();
  if (realm) {
    auto rtfa = realm_tfa(*realm);
    if (rtfa.count("type")) out["realm"] = rtfa["type"];
  }
  TfaDoc doc = read_doc(store);
  const Json* u = tfa_user(doc, userid);
  if (!u || multiple) return out;
  Json types = Json::array();
  for (const char* kind : {"totp", "u2f", "yubico", "webauthn"}) {
    if (u->contains(kind) && !(*u)[kind].empty()) types.push_back(kind);
  }
  if (u->contains("recovery")) types.push_back("recovery");
  out["types"] = types;
  if (u->contains("totp") && !(*u)["totp"].empty()) out["user"] = "oath";
  else if (u->contains("u2f") && !(*u)["u2f"].empty()) out["user"] = "u2f";
  return out;
}

}  // namespace pvx::auth
