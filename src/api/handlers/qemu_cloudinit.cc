// /nodes/{node}/qemu/{vmid}/cloudinit: what changed since the cloud-init image was made (GET),
// regenerating it (PUT, also swapping the medium of a running VM) and the generated texts (dump).
#include "api/handlers/common.h"
#include "api/handlers/qemu_common.h"
#include "api/handlers/register.h"
#include "guest/qemu/cloudinit.h"
#include "guest/qemu/cloudinit_volume.h"
#include "guest/qemu/vm_service.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;


Json cloudinit_pending(RequestContext& ctx) {
  auto loaded = vm_service(ctx).load_or_throw(ctx.integer("vmid"));
  return guest::qemu::cloudinit_pending(loaded.config);
}

// PVE's vmconfig_update_cloudinit_drive: regenerate under the config lock, then let a running
// QEMU see the new image by changing the medium.
Json cloudinit_update(RequestContext& ctx) {
  auto& svc = vm_service(ctx);
  const auto vmid = ctx.integer("vmid");
  std::optional<guest::qemu::CloudInitImage> image;
  svc.update(vmid, [&](guest::GuestConfig& config) {
    guest::check_not_locked(config);
    image = guest::qemu::apply_cloudinit(svc.storage(), svc.paths(vmid), vmid, config);
    return image && image->config_changed;
  });
  if (!image || !svc.runtime(vmid).running) return nullptr;
  // The VM runs the image as a raw cdrom: the volume itself when raw, else the plain ISO copy.
  const std::string file = image->format == "raw" ? image->path : image->iso;
  auto qmp = svc.qmp(vmid);
  qmp->execute("blockdev-change-medium", {{"id", image->drive_key}, {"filename", file}, {"format", "raw"}},
               std::chrono::seconds(60));
  return nullptr;
}

Json cloudinit_dump(RequestContext& ctx) {
  const auto vmid = ctx.integer("vmid");
  auto loaded = vm_service(ctx).load_or_throw(vmid);
  const bool mask = !ctx.allowed("/vms/" + std::to_string(vmid), {"VM.Config.Cloudinit"});
  return guest::qemu::cloudinit_dump(vmid, loaded.config.main, ctx.str("type"), mask);
}

}  // namespace

void register_qemu_cloudinit(Router& r) {
  const auto vm_only = [] { return ref(object({{"node", std_opt::node()}, {"vmid", std_opt::vmid()}})); };
  r.add({
      .name = "cloudinit_pending",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/cloudinit",
      .description = "Get the cloudinit configuration with both current and pending values.",
      .parameters = vm_only(),
      .returns = ref(array(object({
          {"key", string("Configuration option name.")},
          {"value", string("Value as it was used to generate the current cloudinit image.").opt()},
          {"pending", string("The new pending value.").opt()},
          {"delete", integer("Indicates a pending delete request if present and not 0. ").min(0).max(1).opt()},
      }))),
      .permission = perm("/vms/{vmid}", {"VM.Audit"}),
      .proxyto = "node",
      .handler = cloudinit_pending,
      .cli = {{"qm", "cloudinit pending", {"vmid"}}},
  });
  r.add({
      .name = "cloudinit_update",
      .verb = Verb::Put,
      .path = "/nodes/{node}/qemu/{vmid}/cloudinit",
      .description = "Regenerate and change cloudinit config drive.",
      .parameters = vm_only(),
      .returns = ref(null_type()),
      .permission = perm("/vms/{vmid}", {"VM.Config.Cloudinit"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = cloudinit_update,
      .cli = {{"qm", "cloudinit update", {"vmid"}}},
  });
  r.add({
      .name = "cloudinit_generated_config_dump",
      .verb = Verb::Get,
      .path = "/nodes/{node}/qemu/{vmid}/cloudinit/dump",
      .description = "Get automatically generated cloudinit config.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"vmid", std_opt::vmid()},
          {"type", enumeration({"user", "network", "meta"}, "Config type.")},
      })),
      .returns = ref(string()),
      .permission = perm("/vms/{vmid}", {"VM.Audit"}),
      .proxyto = "node",
      .blocking = true,  // reads /etc/resolv.conf
      .handler = cloudinit_dump,
      .cli = {{"qm", "cloudinit dump", {"vmid", "type"}}},
  });
}

}  // namespace pvx::api::handlers
