// /pools: resource pools (PVE 9's /pools?poolid= shapes and the older /pools/{poolid} ones).
// Members are guests and storages; a guest belongs to at most one pool.
#include "api/handlers/access_common.h"
#include "api/handlers/cluster_resources.h"
#include "api/handlers/guest_ids.h"
#include "api/permission_check.h"
#include "auth/auth_service.h"
#include "auth/user_config.h"
#include "storage/storage_service.h"

namespace pvx::api::handlers {
namespace {

const auth::PoolEntry& find_pool(const auth::UserConfig& cfg, const std::string& poolid) {
  auto it = cfg.pools.find(poolid);
  if (it == cfg.pools.end()) throw Error("pool '" + poolid + "' does not exist", 500);
  return it->second;
}

// The members the caller may see, from the cluster resources, optionally of one type.
Json pool_members(RequestContext& ctx, const auth::PoolEntry& pool, const std::optional<std::string>& type) {
  Json members = Json::array();
  for (auto& e : cluster_resources(ctx, std::nullopt)) {
    const std::string t = e.value("type", "");
    if (type && t != *type) continue;
    if (t == "qemu" || t == "lxc") {
      if (e.contains("vmid") && pool.vms.count(std::to_string(e["vmid"].get<std::int64_t>()))) members.push_back(e);
    } else if (t == "storage") {
      if (pool.storage.count(e.value("storage", ""))) members.push_back(e);
    }
  }
  return members;
}

Json pool_json(RequestContext& ctx, const std::string& poolid, const auth::PoolEntry& pool, bool with_members,
               const std::optional<std::string>& type) {
  Json e = {{"poolid", poolid}};
  if (!pool.comment.empty()) e["comment"] = pool.comment;
  if (with_members) e["members"] = pool_members(ctx, pool, type);
  return e;
}

Json list_pools(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  Json out = Json::array();
  if (auto poolid = ctx.opt_str("poolid")) {
    ctx.check("/pool/" + *poolid, {"Pool.Audit"});
    out.push_back(pool_json(ctx, *poolid, find_pool(*cfg, *poolid), true, ctx.opt_str("type")));
    return out;
  }
  for (const auto& [poolid, pool] : cfg->pools) {
    if (ctx.allowed("/pool/" + poolid, {"Pool.Audit"}, true)) out.push_back(pool_json(ctx, poolid, pool, false, {}));
  }
  return out;
}

Json read_pool(RequestContext& ctx) {
  auto cfg = ctx.services().auth->user_config();
  Json e = pool_json(ctx, ctx.str("poolid"), find_pool(*cfg, ctx.str("poolid")), true, ctx.opt_str("type"));
  e.erase("poolid");
  return e;
}

Json create_pool(RequestContext& ctx) {
  const std::string poolid = ctx.str("poolid");
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    if (cfg.pools.count(poolid)) throw Error("create pool failed: pool '" + poolid + "' already exists", 500);
    if (auto slash = poolid.rfind('/'); slash != std::string::npos && !cfg.pools.count(poolid.substr(0, slash))) {
      throw Error("parent pool '" + poolid.substr(0, slash) + "' does not exist", 500);
    }
    cfg.pools[poolid].comment = ctx.opt_str("comment").value_or("");
  });
  return nullptr;
}

void check_modify(RequestContext& ctx, const std::string& path) {
  ctx.check(path, perm_modify_privileges(path), true);
}

Json update_pool(RequestContext& ctx) {
  const std::string poolid = ctx.str("poolid");
  const bool remove = ctx.flag("delete");
  const bool allow_move = ctx.flag("allow-move");
  auto vms = id_list(ctx.opt_str("vms").value_or(""));
  auto storages = id_list(ctx.opt_str("storage").value_or(""));
  for (const auto& vmid : vms) check_modify(ctx, "/vms/" + vmid);
  for (const auto& sid : storages) check_modify(ctx, "/storage/" + sid);
  auto guests = vms.empty() ? std::map<std::int64_t, GuestRef>{} : guest_ids(*ctx.services().store);
  // Checked before the user.cfg lock is taken: get() throws "storage 'x' does not exist".
  if (!remove) {
    for (const auto& sid : storages) ctx.services().storage->get(sid);
  }
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    find_pool(cfg, poolid);
    auto& pool = cfg.pools[poolid];
    if (auto c = ctx.opt_str("comment")) pool.comment = *c;
    for (const auto& vmid : vms) {
      if (remove) {
        if (!pool.vms.erase(vmid)) throw Error("VM " + vmid + " is not a pool member", 500);
        continue;
      }
      if (!guests.count(std::stoll(vmid))) throw Error("VM " + vmid + " does not exist", 500);
      for (auto& [other_id, other] : cfg.pools) {
        if (other_id == poolid || !other.vms.count(vmid)) continue;
        if (!allow_move) throw Error("VM " + vmid + " belongs already to pool '" + other_id + "'", 500);
        other.vms.erase(vmid);
      }
      pool.vms.insert(vmid);
    }
    for (const auto& sid : storages) {
      if (remove) {
        if (!pool.storage.erase(sid)) throw Error("storage '" + sid + "' is not a pool member", 500);
        continue;
      }
      pool.storage.insert(sid);
    }
  });
  return nullptr;
}

Json delete_pool(RequestContext& ctx) {
  const std::string poolid = ctx.str("poolid");
  ctx.services().auth->update_user_config([&](auth::UserConfig& cfg) {
    const auto& pool = find_pool(cfg, poolid);
    if (!pool.vms.empty() || !pool.storage.empty()) throw Error("pool '" + poolid + "' is not empty", 500);
    for (const auto& [other, p] : cfg.pools) {
      if (other.starts_with(poolid + "/")) throw Error("pool '" + poolid + "' has sub-pools", 500);
    }
    cfg.pools.erase(poolid);
    cfg.acl.erase("/pool/" + poolid);
  });
  return nullptr;
}

}  // namespace

void register_pools(Router& r, const ReferenceDeclarations& decl) {
  r.add(decl("GET /pools", list_pools, {{"pveum", "pool list"}}));
  r.add(decl("POST /pools", create_pool, {{"pveum", "pool add", {"poolid"}}}));
  r.add(decl("PUT /pools", update_pool, {{"pveum", "pool modify", {"poolid"}}}));
  r.add(decl("DELETE /pools", delete_pool, {{"pveum", "pool delete", {"poolid"}}}));
  r.add(decl("GET /pools/{poolid}", read_pool));
  r.add(decl("PUT /pools/{poolid}", update_pool));
  r.add(decl("DELETE /pools/{poolid}", delete_pool));
}

}  // namespace pvx::api::handlers
