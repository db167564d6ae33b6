// /nodes/{node}/storage: the storages of this node with their status (pvesm status).
#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "api/handlers/storage_common.h"
#include "base/log.h"
#include "schema/formats.h"
#include "storage/plugin_registry.h"
#include "storage/storage_service.h"

namespace pvx::api::handlers {

// Status of one storage as PVE reports it; an unreachable storage is listed as inactive.
Json storage_status_json(storage::StorageService& svc, const storage::StorageDef& def, bool with_formats) {
  const auto& info = svc.plugin(def).info();
  auto content = def.content();
  Json j = {{"storage", def.id},
            {"type", def.type},
            {"content", storage::print_content_list(content.empty() ? info.default_content : content)},
            {"shared", def.shared() || info.shared ? 1 : 0},
            {"enabled", def.disabled() ? 0 : 1},
            {"active", 0}};
  if (!def.disabled() && svc.on_this_node(def)) {
    try {
      auto full = svc.get(def.id);
      svc.activate(full);
      auto st = svc.plugin(full).status(full);
      j["active"] = st.active ? 1 : 0;
      j["total"] = st.total;
      j["used"] = st.used;
      j["avail"] = st.avail;
      if (st.total > 0) j["used_fraction"] = static_cast<double>(st.used) / static_cast<double>(st.total);
    } catch (const Error& e) {
      log::warn("storage '" + def.id + "' is not online: " + e.what());
    }
  }
  if (with_formats) {
    j["formats"] = {{"default", info.default_format.empty() ? "raw" : info.default_format},
                    {"supported", info.formats}};
    j["select_existing"] = info.select_existing ? 1 : 0;
  }
  return j;
}

namespace {

using namespace schema;

Json list_node_storage(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto only = ctx.opt_str("storage");
  std::set<std::string> want_content;
  if (auto c = ctx.opt_str("content")) {
    for (auto& x : split_list(*c)) want_content.insert(x);
  }
  const bool only_enabled = ctx.flag("enabled");
  const bool with_formats = ctx.flag("format");
  auto target = ctx.opt_str("target");
  if (only && !svc.load()->cfg.find(*only)) throw Error::param("storage", "No such storage.");
  Json out = Json::array();
  for (const auto& def : svc.all()) {
    if (only && def.id != *only) continue;
    if (!svc.on_this_node(def)) continue;
    if (!ctx.allowed("/storage/" + def.id, {"Datastore.Audit", "Datastore.AllocateSpace"}, true)) continue;
    if (only_enabled && def.disabled()) continue;
    const auto& info = svc.plugin(def).info();
    if (target && *target != ctx.services().node && !(def.shared() || info.shared)) continue;
    if (!want_content.empty()) {
      auto content = def.content();
      bool ok = true;
      for (const auto& c : want_content) ok = ok && content.count(c);
      if (!ok) continue;
    }
    out.push_back(storage_status_json(svc, def, with_formats));
  }
  return out;
}

Json storage_status(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  if (!svc.on_this_node(def)) {
    throw Error("storage '" + def.id + "' is not available on node '" + ctx.services().node + "'", 400);
  }
  Json j = storage_status_json(svc, def, false);
  j.erase("storage");
  j.erase("used_fraction");
  return j;
}

Json storage_index(RequestContext& ctx) {
  ctx.services().storage->get(ctx.str("storage"));
  return dir_index({"content", "download-url", "prunebackups", "status", "upload"});
}

Schema status_properties(bool list) {
  std::vector<std::pair<std::string, Schema>> p = {
      {"type", string("Storage type.")},
      {"content", string("Allowed storage content types.").fmt("pve-storage-content-list")},
      {"active", boolean("Set when storage is accessible.").opt()},
      {"enabled", boolean("Set when storage is enabled (not disabled).").opt()},
      {"shared", boolean("Shared flag from storage configuration.").opt()},
      {"total", integer("Total storage space in bytes.").render("bytes").opt()},
      {"used", integer("Used storage space in bytes.").render("bytes").opt()},
      {"avail", integer("Available storage space in bytes.").render("bytes").opt()},
  };
  if (list) {
    p.emplace_back("storage", std_opt::storage_id().desc("The storage identifier."));
    p.emplace_back("used_fraction", number("Used fraction (used/total).").render("fraction_as_percentage").opt());
    p.emplace_back("formats",
                   object({{"default", enumeration({"qcow2", "raw", "subvol", "vmdk"}, "The default format of the storage.")},
                           {"supported", array(enumeration({"qcow2", "raw", "subvol", "vmdk"}), "The list of supported formats")}},
                          "Lists the supported and default format. Only included if 'format' parameter is set.")
                       .opt());
    p.emplace_back("select_existing", boolean("Instead of creating new volumes, one must select one that is already "
                                              "existing. Only included if 'format' parameter is set.")
                                          .opt());
  }
  return object(std::move(p));
}

}  // namespace

void register_node_storage(Router& r) {
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/nodes/{node}/storage",
      .description = "Get status for all datastores.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"storage", std_opt::storage_id().desc("Only list status for  specified storage").opt()},
          {"content", string("Only list stores which support this content type.").fmt("pve-storage-content-list").opt()},
          {"enabled", boolean("Only list stores which are enabled (not disabled in config).").def(0).opt()},
          {"target", std_opt::node().desc("If target is different to 'node', we only lists shared storages which "
                                          "content is accessible on this 'node' and the specified 'target' node.")
                         .opt()},
          {"format", boolean("Include information about formats").def(0).opt()},
      })),
      .returns = ref(array(status_properties(true)).link("{storage}")),
      .permission = all().describe("Only list entries where you have 'Datastore.Audit' or 'Datastore.AllocateSpace' "
                                   "permissions on '/storage/<storage>'"),
      .proxyto = "node",
      .blocking = true,
      .handler = list_node_storage,
      .cli = {{"pvesm", "status", {}, {}, "", "storage-status"}},
  });
  r.add({
      .name = "diridx",
      .verb = Verb::Get,
      .path = "/nodes/{node}/storage/{storage}",
      .description = "",
      .parameters = ref(object({{"node", std_opt::node()}, {"storage", std_opt::storage_id().desc("The storage identifier.")}})),
      .returns = ref(dir_index_returns()),
      .permission = perm("/storage/{storage}", {"Datastore.Audit", "Datastore.AllocateSpace"}, true),
      .blocking = true,
      .handler = storage_index,
  });
  r.add({
      .name = "read_status",
      .verb = Verb::Get,
      .path = "/nodes/{node}/storage/{storage}/status",
      .description = "Read storage status.",
      .parameters = ref(object({{"node", std_opt::node()}, {"storage", std_opt::storage_id().desc("The storage identifier.")}})),
      .returns = ref(status_properties(false)),
      .permission = perm("/storage/{storage}", {"Datastore.Audit", "Datastore.AllocateSpace"}, true),
      .proxyto = "node",
      .blocking = true,
      .handler = storage_status,
  });
}

}  // namespace pvx::api::handlers
