// /nodes/{node}/capabilities/qemu: the CPU models, CPU flags and machine types a VM config can
// name on this node (the web UI's CPU and machine pickers read them).
#include <mutex>
#include <regex>
#include <sstream>

#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "base/log.h"
#include "base/process.h"
#include "guest/qemu/cfg2cmd.h"
#include "guest/qemu/cpu_models.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

// `qemu-system-x86_64 -machine help`, asked once: the binary does not change under a running pvxd.
Json machine_types() {
  static std::once_flag once;
  static Json machines = Json::array();
  std::call_once(once, [] {
    try {
      auto res = run_command({guest::qemu::HostFacts{}.qemu_binary, "-machine", "help"},
                             {.timeout = std::chrono::seconds(10)});
      static const std::regex line(R"(^(pc-(i440fx|q35)-(\d+\.\d+))\s)");
      std::istringstream in(res.out);
      std::string l;
      std::smatch m;
      while (std::getline(in, l)) {
        if (!std::regex_search(l, m, line)) continue;
        machines.push_back({{"id", m[1].str()}, {"type", m[2].str()}, {"version", m[3].str()}});
      }
    } catch (const Error& e) {
      log::warn(std::string("unable to list QEMU's machine types: ") + e.what());
    }
  });
  return machines;
}

Json list_cpu_models(RequestContext&) {
  Json out = Json::array();
  for (const auto& m : guest::qemu::cpu_models()) out.push_back({{"name", m.name}, {"vendor", m.vendor}, {"custom", 0}});
  return out;
}

Json list_cpu_flags(RequestContext&) {
  Json out = Json::array();
  for (const auto& f : guest::qemu::vm_settable_cpu_flags()) out.push_back({{"name", f.name}, {"description", f.description}});
  return out;
}

}  // namespace

void register_qemu_capabilities(Router& r) {
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/nodes/{node}/capabilities",
      .description = "Node capabilities index.",
      .parameters = ref(object({{"node", std_opt::node()}})),
      .returns = ref(dir_index_returns("name")),
      .permission = all(),
      .proxyto = "node",
      .handler = [](RequestContext&) { return dir_index({"qemu"}, "name"); },
  });
  r.add({
      .name = "qemu_caps_index",
      .verb = Verb::Get,
      .path = "/nodes/{node}/capabilities/qemu",
      .description = "QEMU capabilities index.",
      .parameters = ref(object({{"node", std_opt::node()}})),
      .returns = ref(dir_index_returns("name")),
      .permission = all(),
      .proxyto = "node",
      .handler = [](RequestContext&) { return dir_index({"cpu", "cpu-flags", "machines", "migration"}, "name"); },
  });
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/nodes/{node}/capabilities/qemu/cpu",
      .description = "List all custom and default CPU models.",
      .parameters = ref(object({{"node", std_opt::node()}})),
      .returns = ref(array(object({
                               {"custom", boolean("True if this is a custom CPU model.")},
                               {"name", string("Name of the CPU model. Identifies it for subsequent API calls. "
                                               "Prefixed with 'custom-' for custom models.")},
                               {"vendor", string("CPU vendor visible to the guest when this model is selected. "
                                                 "Vendor of 'reported-model' in case of custom models.")},
                           }))
                         .link("{name}")),
      .permission = all().describe("Only returns custom models when the current user has Sys.Audit on /nodes."),
      .handler = list_cpu_models,
  });
  r.add({
      .name = "cpu-flags",
      .verb = Verb::Get,
      .path = "/nodes/{node}/capabilities/qemu/cpu-flags",
      .description = "List of available VM-specific CPU flags.",
      .parameters = ref(object({{"node", std_opt::node()}})),
      .returns = ref(array(object({
          {"description", string("Description of the CPU flag.")},
          {"name", string("Name of the CPU flag.")},
      }))),
      .permission = all(),
      .handler = list_cpu_flags,
  });
  r.add({
      .name = "types",
      .verb = Verb::Get,
      .path = "/nodes/{node}/capabilities/qemu/machines",
      .description = "Get available QEMU/KVM machine types.",
      .parameters = ref(object({{"node", std_opt::node()}})),
      .returns = ref(array(object({
                               {"changes", string("Notable changes of a version, currently only set for +pveX "
                                                  "versions.")
                                               .opt()},
                               {"id", string("Full name of machine type and version.")},
                               {"type", enumeration({"q35", "i440fx"}, "The machine type.")},
                               {"version", string("The machine version.")},
                           }).additional())),
      .permission = all(),
      .proxyto = "node",
      .handler = [](RequestContext&) { return machine_types(); },
  });
  r.add({
      .name = "capabilities",
      .verb = Verb::Get,
      .path = "/nodes/{node}/capabilities/qemu/migration",
      .description = "Get node-specific QEMU migration capabilities of the node. Requires the 'Sys.Audit' "
                     "permission on '/nodes/<node>'.",
      .parameters = ref(object({{"node", std_opt::node()}})),
      .returns = ref(object({
          {"has-dbus-vmstate", boolean("Whether the host supports live-migrating additional VM state via the "
                                       "dbus-vmstate helper.")},
      })),
      .permission = perm("/nodes/{node}", {"Sys.Audit"}),
      .proxyto = "node",
      .handler = [](RequestContext&) { return Json{{"has-dbus-vmstate", 0}}; },
  });
}

}  // namespace pvx::api::handlers
