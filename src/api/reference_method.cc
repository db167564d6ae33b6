#include "api/reference_method.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "guest/pve_schema_json.h"

namespace pvx::api {

namespace {

using Json = nlohmann::json;

Permission check_from_json(const Json& c) {
  const std::string op = c.at(0).get<std::string>();
  if (op == "perm") {
    bool any = c.size() > 3 && c[3] == "any";
    return perm(c.at(1).get<std::string>(), c.at(2).get<std::vector<std::string>>(), any);
  }
  if (op == "and" || op == "or") {
    std::vector<Permission> ops;
    for (std::size_t i = 1; i < c.size(); ++i) ops.push_back(check_from_json(c[i]));
    return op == "and" ? all_of(std::move(ops)) : any_of(std::move(ops));
  }
  if (op == "userid-param" && c.size() > 1 && c[1] == "self") return userid_self();
  if (op == "userid-param" && c.size() > 1) return userid_realm(c[1].get<std::string>());
  if (op == "userid-group") {
    std::string mode;
    if (c.size() > 3 && c[2] == "groups_param") mode = c[3].get<std::string>();
    return userid_group(c.at(1).get<std::vector<std::string>>(), mode);
  }
  if (op == "perm-modify") return perm_modify(c.at(1).get<std::string>());
  throw std::logic_error("unsupported permission check '" + op + "'");
}


// A string member; "" when missing or null (PVE's dump writes `"proxyto": null`).
std::string text(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "mp[n]" keys stand for mp0..mp<N-1> (N from the data's `indexed` counts).
void expand_indexed(Json& properties, const Json& indexed) {
  std::vector<std::string> names;
  for (auto it = properties.begin(); it != properties.end(); ++it) {
    if (it.key().ends_with("[n]")) names.push_back(it.key());
  }
  for (const auto& name : names) {
    const std::string base = name.substr(0, name.size() - 3);
    Json s = properties[name];
    properties.erase(name);
    for (int i = 0; i < indexed.value(base, 0); ++i) properties[base + std::to_string(i)] = s;
  }
}

// PVE checks a returned object against its declared properties but allows others unless the
// declaration says `additionalProperties: 0`; pvx's validator wants that said explicitly.
void prepare_returns(Json& s, const Json& indexed) {
  if (!s.is_object()) return;
  // A few declarations give properties without saying "object" (POST /access/openid/login).
  if (!s.contains("type") && s.contains("properties")) s["type"] = "object";
  if (s.contains("properties") && s["properties"].is_object()) {
    expand_indexed(s["properties"], indexed);
    if (!s.contains("additionalProperties")) s["additionalProperties"] = 1;
    for (auto& [k, v] : s["properties"].items()) prepare_returns(v, indexed);
  }
  if (s.contains("items")) prepare_returns(s["items"], indexed);
}

}  // namespace

ReferenceDeclarations::ReferenceDeclarations(std::string_view json) : data_(Json::parse(json)) {}

Permission permission_from_json(const Json& j) {
  Permission p;
  if (j.contains("check")) {
    p = check_from_json(j["check"]);
  } else if (j.value("user", "") == "world") {
    p = world();
  } else if (j.value("user", "") == "root@pam") {
    p = superuser();
  } else {
    p = all();
  }
  if (j.contains("description")) p.description = j["description"].get<std::string>();
  return p;
}

ApiMethod reference_method(const nlohmann::json& all, const std::string& key, Handler handler, std::vector<CliAlias> cli) {
  const Json& methods = all.at("methods");
  if (!methods.contains(key)) throw std::logic_error("no reference declaration for " + key);
  const Json& e = methods[key];
  ApiMethod m;
  auto space = key.find(' ');
  const std::string verb = key.substr(0, space);
  m.verb = verb == "GET" ? Verb::Get : verb == "POST" ? Verb::Post : verb == "PUT" ? Verb::Put : Verb::Delete;
  m.path = key.substr(space + 1);
  m.name = text(e, "name");
  m.description = text(e, "description");
  Json params = e.value("parameters", Json::object());
  const Json indexed = all.value("indexed", Json::object());
  // "mp[n]" keys are converted once and shared by mp0..mp<N-1> (hundreds of keys per method).
  Json repeated = Json::object();
  for (auto it = params.begin(); it != params.end();) {
    if (it.key().ends_with("[n]")) {
      repeated[it.key()] = it.value();
      it = params.erase(it);
    } else {
      ++it;
    }
  }
  // A bare map of parameters (which may include one named "type") becomes an object schema.
  if (!params.contains("type") || !params["type"].is_string()) {
    params = Json{{"type", "object"}, {"properties", params}, {"additionalProperties", 0}};
  }
  schema::Schema object = guest::schema_from_pve_json(params);
  for (auto it = repeated.begin(); it != repeated.end(); ++it) {
    const std::string base = it.key().substr(0, it.key().size() - 3);
    schema::SchemaRef one = schema::ref(guest::schema_from_pve_json(it.value()));
    for (int i = 0; i < indexed.value(base, 0); ++i) object.properties.emplace_back(base + std::to_string(i), one);
  }
  std::sort(object.properties.begin(), object.properties.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  m.parameters = schema::ref(std::move(object));
  Json returns = e.value("returns", Json{{"type", "null"}});
  // `returns: {}` (GET /access/domains/{realm}) declares nothing: any object.
  if (returns.is_object() && returns.empty()) returns = Json{{"type", "object"}, {"additionalProperties", 1}};
  prepare_returns(returns, indexed);
  m.returns = schema::ref(guest::schema_from_pve_json(returns));
  m.permission = permission_from_json(e.value("permissions", Json{{"user", "all"}}));
  m.protected_ = e.value("protected", 0) == 1;
  m.proxyto = text(e, "proxyto");
  m.allowtoken = e.value("allowtoken", 1) == 1;
  m.handler = std::move(handler);
  m.cli = std::move(cli);
  return m;
}

}  // namespace pvx::api
