#include "api/schema_export.h"

#include "api/router.h"
#include "schema/describe.h"

namespace pvx::api {
namespace {

using nlohmann::json;

std::vector<std::string> path_param_names(const std::string& path) {
  std::vector<std::string> out;
  for (size_t i = path.find('{'); i != std::string::npos; i = path.find('{', i + 1)) {
    out.push_back(path.substr(i + 1, path.find('}', i) - i - 1));
  }
  return out;
}

}  // namespace

json schema_dump(const Router& router) {
  json out = json::array();
  for (const ApiMethod* m : router.all()) {
    json params = m->parameters ? schema::to_pve_parameters(*m->parameters) : json::object();
    out.push_back({
        {"path", m->path},
        {"method", verb_name(m->verb)},
        {"name", m->name},
        {"description", m->description},
        {"parameters", params},
        {"returns", m->returns ? schema::to_pve_json(*m->returns) : json{{"type", "null"}}},
        {"permissions", m->permission.to_json()},
        {"protected", m->protected_ ? 1 : 0},
        {"proxyto", m->proxyto.empty() ? json(nullptr) : json(m->proxyto)},
        {"allowtoken", m->allowtoken ? 1 : 0},
        {"additionalProperties", m->parameters && m->parameters->additional_properties ? 1 : 0},
    });
  }
  return out;
}

json openapi_document(const Router& router) {
  json paths = json::object();
  for (const ApiMethod* m : router.all()) {
    auto in_path = path_param_names(m->path);
    json parameters = json::array();
    json body_props = json::object();
    json body_required = json::array();
    bool has_body = m->verb == Verb::Post || m->verb == Verb::Put;
    if (m->parameters) {
      for (const auto& [name, s] : m->parameters->properties) {
        bool is_path = std::find(in_path.begin(), in_path.end(), name) != in_path.end();
        json js = schema::to_json_schema(*s);
        if (is_path || !has_body) {
          json p = {{"name", name}, {"in", is_path ? "path" : "query"}, {"schema", js}};
          if (is_path || !s->optional) p["required"] = true;
          if (!s->description.empty()) p["description"] = s->description;
          parameters.push_back(std::move(p));
        } else {
          body_props[name] = js;
          if (!s->optional) body_required.push_back(name);
        }
      }
    }
    json data_schema = m->returns ? schema::to_json_schema(*m->returns) : json{{"type", "null"}};
    json op = {
        {"operationId", m->name + (m->verb == Verb::Get ? "" : std::string("_") + verb_name(m->verb))},
        {"summary", m->description},
        {"parameters", parameters},
        {"responses",
         {{"200",
           {{"description", "Success"},
            {"content",
             {{"application/json",
               {{"schema", {{"type", "object"}, {"properties", {{"data", data_schema}}}}}}}}}}},
          {"400", {{"description", "Parameter verification failed."}}},
          {"401", {{"description", "Authentication failed"}}},
          {"403", {{"description", "Permission check failed"}}}}},
        {"x-pve-permissions", m->permission.to_json()},
        {"x-pve-allowtoken", m->allowtoken},
    };
    if (!m->proxyto.empty()) op["x-pve-proxyto"] = m->proxyto;
    if (m->permission.kind == Permission::Kind::World) {
      op["security"] = json::array();
    }
    if (has_body && !body_props.empty()) {
      json body_schema = {{"type", "object"}, {"properties", body_props}};
      if (!body_required.empty()) body_schema["required"] = body_required;
      op["requestBody"] = {{"content",
                            {{"application/x-www-form-urlencoded", {{"schema", body_schema}}},
                             {"application/json", {{"schema", body_schema}}}}}};
    }
    std::string verb = verb_name(m->verb);
    for (auto& c : verb) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    paths["/api2/json" + m->path][verb] = std::move(op);
  }
  return {
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "pvx API"},
        {"version", "9.1"},
        {"description", "The Proxmox VE compatible REST API of pvx, generated from its method table."}}},
      {"servers", json::array({{{"url", "/"}}})},
      {"components",
       {{"securitySchemes",
         {{"ticket", {{"type", "apiKey"}, {"in", "cookie"}, {"name", "PVEAuthCookie"}}},
          {"csrf", {{"type", "apiKey"}, {"in", "header"}, {"name", "CSRFPreventionToken"}}},
          {"apitoken",
           {{"type", "apiKey"},
            {"in", "header"},
            {"name", "Authorization"},
            {"description", "PVEAPIToken=USER@REALM!TOKENID=SECRET"}}}}}}},
      {"security", json::array({{{"ticket", json::array()}, {"csrf", json::array()}}, {{"apitoken", json::array()}}})},
      {"paths", paths},
  };
}

}  // namespace pvx::api
