// /nodes/{node}/lxc/{vmid}/config and /pending.
#include "api/handlers/lxc_common.h"
#include "api/handlers/qemu_common.h"
#include "base/strings.h"
#include "guest/lxc/ct_schema.h"
#include "guest/lxc/ct_service.h"

namespace pvx::api::handlers {
namespace {

namespace gl = guest::lxc;

// A config section as GET /config returns it: typed values, description, raw lxc lines as
// [key, value] pairs (PVE's `lxc` member).
Json section_json(const guest::ConfigSection& s) {
  Json out = Json::object();
  for (const auto& [k, v] : s.values) out[k] = gl::ct_value_json(k, v);
  if (s.description) out["description"] = *s.description;
  if (!s.raw_lxc.empty()) {
    Json lxc = Json::array();
    for (const auto& [k, v] : s.raw_lxc) lxc.push_back({k, v});
    out["lxc"] = lxc;
  }
  return out;
}

Json get_config(RequestContext& ctx) {
  auto loaded = ct_service(ctx).load_or_throw(ctx.integer("vmid"));
  auto& config = loaded.config;
  if (auto snap = ctx.opt_str("snapshot")) {
    auto it = config.snapshots.find(*snap);
    if (it == config.snapshots.end()) throw Error("snapshot '" + *snap + "' does not exist", 500);
    Json out = section_json(it->second);
    out["digest"] = loaded.digest;
    return out;
  }
  guest::ConfigSection view = config.main;
  if (!ctx.flag("current")) {
    for (const auto& [k, forced] : config.pending_delete) view.values.erase(k);
    for (const auto& [k, v] : config.pending.values) view.values[k] = v;
    if (config.pending.description) view.description = *config.pending.description;
  }
  Json out = section_json(view);
  out["digest"] = loaded.digest;
  return out;
}

Json get_pending(RequestContext& ctx) {
  auto loaded = ct_service(ctx).load_or_throw(ctx.integer("vmid"));
  const auto& c = loaded.config;
  std::map<std::string, Json> items;
  auto item = [&](const std::string& key) -> Json& {
    Json& j = items[key];
    if (j.is_null()) j = Json{{"key", key}};
    return j;
  };
  for (const auto& [k, v] : c.main.values) item(k)["value"] = v;
  if (c.main.description) item("description")["value"] = *c.main.description;
  item("digest")["value"] = loaded.digest;
  for (const auto& [k, v] : c.pending.values) item(k)["pending"] = v;
  if (c.pending.description) item("description")["pending"] = *c.pending.description;
  for (const auto& [k, force] : c.pending_delete) item(k)["delete"] = force ? 2 : 1;
  Json out = Json::array();
  for (auto& [k, j] : items) out.push_back(std::move(j));
  return out;
}

std::vector<std::string> id_list(RequestContext& ctx, const char* name) {
  std::vector<std::string> out;
  for (const auto& k : split_any(ctx.opt_str(name).value_or(""), ",; \t")) {
    if (k.empty()) continue;
    if (!gl::ct_key_schema(k) && k != "description") throw Error::param(name, "unknown option '" + k + "'");
    out.push_back(k);
  }
  return out;
}

Json update_config(RequestContext& ctx) {
  auto& svc = ct_service(ctx);
  const auto vmid = ctx.integer("vmid");
  std::map<std::string, std::string> set;
  std::vector<std::pair<std::string, std::string>> set_list;
  for (const auto& [key, value] : ctx.params().items()) {
    if (key == "node" || key == "vmid" || key == "digest" || key == "delete" || key == "revert") continue;
    set[key] = param_text(value);
    set_list.emplace_back(key, set[key]);
  }
  auto deletes = id_list(ctx, "delete");
  auto revert = id_list(ctx, "revert");
  if (set.empty() && deletes.empty() && revert.empty()) throw Error("no options specified", 400);
  std::vector<std::string> touched = deletes;
  touched.insert(touched.end(), revert.begin(), revert.end());
  check_ct_config_perm(ctx, vmid, set_list, touched);
  for (const auto& [k, v] : set) {
    if (gl::is_mount_key(k)) gl::parse_mount_point(k, v);
    if (gl::is_net_key(k)) gl::parse_ct_net(k, v);
  }
  svc.update_config(vmid, set, deletes, revert, ctx.opt_str("digest").value_or(""), nullptr);
  return nullptr;
}

}  // namespace

void register_lxc_config(Router& r) {
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/config", get_config, {{"pct", "config", {"vmid"}, {}, "", "pct-config"}}));
  r.add(lxc_method("PUT /nodes/{node}/lxc/{vmid}/config", update_config, {{"pct", "set", {"vmid"}}}));
  r.add(lxc_method("GET /nodes/{node}/lxc/{vmid}/pending", get_pending, {{"pct", "pending", {"vmid"}, {}, "", "pct-pending"}}));
}

}  // namespace pvx::api::handlers
