// /nodes/{node}/aplinfo: the container templates of the appliance indexes `pveam update`
// fetched (storage/aplinfo.h), and downloading one into a storage's template cache with the
// index's checksum checked (the "download" task of download-url).
#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "api/handlers/storage_common.h"
#include "storage/aplinfo.h"
#include "storage/storage_service.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

Json list(RequestContext& ctx) {
  Json out = Json::array();
  for (auto& e : storage::load_aplinfo(ctx.services().data_dir)) out.push_back(std::move(e));
  return out;
}

Json download(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  const std::string name = ctx.str("template");
  Json entry;
  for (auto& e : storage::load_aplinfo(ctx.services().data_dir)) {
    if (e["template"] == name) entry = std::move(e);
  }
  if (entry.is_null()) throw Error::param("template", "no such template '" + name + "' (run 'pveam update' first?)");
  if (!def.content().count("vztmpl")) {
    throw Error::param("storage", "storage '" + def.id + "' does not support templates (content 'vztmpl')");
  }
  svc.activate(def);
  auto dir = svc.plugin(def).content_dir(def, "vztmpl");
  if (!dir) throw Error::param("storage", "storage '" + def.id + "' has no template directory");
  const auto target = *dir / name;
  std::error_code ec;
  if (std::filesystem::exists(target, ec)) throw Error::param("template", "template '" + name + "' is already on storage '" + def.id + "'");
  std::string algorithm, expected;
  if (entry.contains("sha512sum")) {
    algorithm = "sha512";
    expected = entry["sha512sum"];
  } else if (entry.contains("md5sum")) {
    algorithm = "md5";
    expected = entry["md5sum"];
  }
  storage::DownloadOptions opts;
  auto status = svc.plugin(def).status(def);
  opts.max_size = status.avail - status.total / 100;
  if (opts.max_size <= 0) throw Error("storage '" + def.id + "' has no free space", 507);
  if (const char* ca = std::getenv("PVX_DOWNLOAD_CA_FILE")) opts.ca_file = ca;
  return spawn_url_download(ctx, def.id, *dir, target, entry["location"], opts, algorithm, expected, "");
}

}  // namespace

void register_node_aplinfo(Router& r) {
  r.add({
      .name = "aplinfo",
      .verb = Verb::Get,
      .path = "/nodes/{node}/aplinfo",
      .description = "Get list of appliances.",
      .parameters = ref(object({{"node", std_opt::node()}})),
      .returns = ref(array(object({}).additional())),
      .permission = all(),
      .proxyto = "node",
      .handler = list,
      .cli = {{"pveam", "available", {}, {}, "", "pveam-available"}},
  });
  r.add({
      .name = "apl_download",
      .verb = Verb::Post,
      .path = "/nodes/{node}/aplinfo",
      .description = "Download appliance templates.",
      .parameters = ref(object({{"node", std_opt::node()},
                                {"storage", std_opt::storage_id().desc("The storage where the template will be stored")},
                                {"template", string("The template which will downloaded").max_len(255)}})),
      .returns = ref(string()),
      .permission = perm("/storage/{storage}", {"Datastore.AllocateTemplate"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = download,
      .cli = {{"pveam", "download", {"storage", "template"}}},
  });
}

}  // namespace pvx::api::handlers
