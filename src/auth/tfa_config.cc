#include "auth/tfa_config.h"

#include "base/random.h"

namespace pvx::auth {

using Json = nlohmann::json;

namespace {
constexpr const char* kKinds[] = {"totp", "webauthn", "u2f", "yubico"};
}

TfaDoc parse_tfa_cfg(const std::string& text, std::string* error) {
  if (text.empty()) return Json{{"users", Json::object()}};
  try {
    Json doc = Json::parse(text);
    if (!doc.is_object()) throw std::runtime_error("not a JSON object");
    if (!doc.contains("users") || !doc["users"].is_object()) doc["users"] = Json::object();
    return doc;
  } catch (const std::exception& e) {
    if (error) *error = std::string("priv/tfa.cfg is not readable: ") + e.what();
    return Json{{"users", Json::object()}};
  }
}

std::string print_tfa_cfg(const TfaDoc& doc) {
  Json out = doc;
  // Users without any factor or lock state are not kept.
  for (auto it = out["users"].begin(); it != out["users"].end();) {
    bool empty = true;
    for (auto& [k, v] : it->items()) {
      if (!(v.is_array() && v.empty()) && !v.is_null() && !(v.is_boolean() && !v.get<bool>())) empty = false;
    }
    it = empty ? out["users"].erase(it) : std::next(it);
  }
  return out.dump() + "\n";
}

const Json* tfa_user(const TfaDoc& doc, const std::string& userid) {
  auto users = doc.find("users");
  if (users == doc.end() || !users->contains(userid)) return nullptr;
  return &(*users)[userid];
}

Json& tfa_user_mut(TfaDoc& doc, const std::string& userid) {
  Json& u = doc["users"][userid];
  if (!u.is_object()) u = Json::object();
  return u;
}

bool tfa_user_has_factors(const Json* user) {
  if (!user) return false;
  for (const char* kind : kKinds) {
    if (user->contains(kind) && !(*user)[kind].empty()) return true;
  }
  return user->contains("recovery") && user->at("recovery").is_object();
}

namespace {

Json info_of(const char* type, const Json& e) {
  Json out = {{"type", type},
              {"id", e.value("id", "")},
              {"description", e.value("description", "")},
              {"created", e.value("created", std::int64_t{0})}};
  out["enable"] = e.value("enable", true) ? 1 : 0;
  return out;
}

}  // namespace

Json tfa_entries(const Json& user) {
  Json out = Json::array();
  for (const char* kind : kKinds) {
    if (!user.contains(kind)) continue;
    for (const auto& e : user[kind]) out.push_back(info_of(kind, e));
  }
  if (user.contains("recovery") && user["recovery"].is_object()) {
    out.push_back({{"type", "recovery"}, {"id", "recovery"}, {"description", "recovery keys"},
                   {"created", user["recovery"].value("created", std::int64_t{0})}, {"enable", 1}});
  }
  return out;
}

std::optional<Json> tfa_entry(const Json& user, const std::string& id) {
  for (const auto& e : tfa_entries(user)) {
    if (e["id"] == id) return e;
  }
  return std::nullopt;
}

bool tfa_update_entry(Json& user, const std::string& id, const std::optional<std::string>& description,
                      const std::optional<bool> enable) {
  for (const char* kind : kKinds) {
    if (!user.contains(kind)) continue;
    for (auto& e : user[kind]) {
      if (e.value("id", "") != id) continue;
      if (description) e["description"] = *description;
      if (enable) {
        if (*enable) e.erase("enable");
        else e["enable"] = false;
      }
      return true;
    }
  }
  return false;
}

bool tfa_delete_entry(Json& user, const std::string& id) {
  if (id == "recovery" && user.contains("recovery")) {
    user.erase("recovery");
    return true;
  }
  for (const char* kind : kKinds) {
    if (!user.contains(kind)) continue;
    auto& list = user[kind];
    for (auto it = list.begin(); it != list.end(); ++it) {
      if (it->value("id", "") == id) {
        list.erase(it);
        if (list.empty()) user.erase(kind);
        return true;
      }
    }
  }
  return false;
}

Json tfa_new_entry(const std::string& description, Json entry, std::int64_t now) {
  return {{"id", random_uuid()}, {"description", description}, {"created", now}, {"entry", std::move(entry)}};
}

std::string tfa_totp_uri(const Json& entry) {
  const Json& e = entry.contains("entry") ? entry["entry"] : entry;
  if (e.is_string()) return e.get<std::string>();
  return e.value("totp", "");
}

}  // namespace pvx::auth
