// GET / and GET /version.
#include "api/handlers/common.h"
#include "api/handlers/register.h"

namespace pvx::api::handlers {

void register_root(Router& r) {
  using namespace schema;
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/",
      .description = "Directory index.",
      .parameters = ref(object({})),
      .returns = ref(dir_index_returns()),
      .permission = all(),
      .handler = [](RequestContext&) {
        return dir_index({"access", "cluster", "nodes", "version"});
      },
  });
  r.add({
      .name = "version",
      .verb = Verb::Get,
      .path = "/version",
      .description = "API version details, including some parts of the global datacenter config.",
      .parameters = ref(object({})),
      .returns = ref(object({
          {"version", string("The full pve-manager package version of this node.")},
          {"release", string("The current Proxmox VE point release in `x.y` format.")},
          {"repoid", string("The short git revision from which this version was build.").pat("[0-9a-fA-F]{8,64}")},
          {"console", enumeration({"applet", "vv", "html5", "xtermjs"}, "The default console viewer to use.").opt()},
      })),
      .permission = all(),
      .handler = [](RequestContext&) {
        return Json{{"version", kPveVersion}, {"release", kPveRelease}, {"repoid", repoid()}};
      },
  });
}

}  // namespace pvx::api::handlers
