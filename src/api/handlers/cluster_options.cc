// /cluster/options: datacenter.cfg read and written through its declared schema.
#include <chrono>

#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "cluster/config_store.h"
#include "config/datacenter_cfg.h"
#include "schema/formats.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

bool datacenter_schema_has(const std::string& key) { return config::datacenter_schema()->property(key) != nullptr; }

constexpr const char* kFile = "datacenter.cfg";
constexpr auto kLockTimeout = std::chrono::seconds(10);

Json get_options(RequestContext& ctx) {
  auto entry = ctx.services().store->read(kFile);
  if (!entry) return Json::object();
  return config::parse_datacenter_cfg(entry->data).config.values;
}

// One parameter's value in its stored form, by parsing it as a file line would be parsed, so
// the API and the file share one set of rules.
Json typed_value(const std::string& key, const Json& param) {
  std::string raw = param.is_string() ? param.get<std::string>() : param.dump();
  if (key == "description") {
    if (!raw.empty() && raw.back() != '\n') raw += '\n';
    return raw;
  }
  if (raw.find('\n') != std::string::npos) throw Error::param(key, "value must not contain newlines");
  auto parsed = config::parse_datacenter_cfg(key + ": " + raw + "\n");
  if (!parsed.warnings.empty()) throw Error::param(key, parsed.warnings.front());
  auto it = parsed.config.values.find(key);
  if (it == parsed.config.values.end()) throw Error::param(key, "invalid value");
  return *it;
}

Json set_options(RequestContext& ctx) {
  auto& store = *ctx.services().store;
  const Json& params = ctx.params();
  std::vector<std::string> deletes;
  if (auto d = ctx.opt_str("delete")) deletes = split_list(*d);
  for (const auto& key : deletes) {
    if (!datacenter_schema_has(key)) throw Error::param("delete", "invalid option '" + key + "'");
    if (params.contains(key)) throw Error::param(key, "can't set and delete the same option");
  }
  auto guard = store.lock("file-datacenter_cfg", kLockTimeout);
  auto entry = store.read(kFile);
  auto parsed = config::parse_datacenter_cfg(entry ? entry->data : "");
  auto& values = parsed.config.values;
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (it.key() == "delete") continue;
    values[it.key()] = typed_value(it.key(), it.value());
  }
  for (const auto& key : deletes) values.erase(key);
  std::string text = config::print_datacenter_cfg(parsed.config);
  if (!store.write(kFile, text, entry ? entry->version : 0)) {
    throw Error("datacenter.cfg was changed concurrently, try again");
  }
  return nullptr;
}

}  // namespace

void register_cluster_options(Router& r) {
  r.add({
      .name = "get_options",
      .verb = Verb::Get,
      .path = "/cluster/options",
      .description = "Get datacenter options. Without 'Sys.Audit' on '/' not all options are returned.",
      .parameters = ref(object({})),
      .returns = ref(object({}).additional()),
      .permission = perm("/", {"Sys.Audit"}),
      .handler = get_options,
  });
  std::vector<std::pair<std::string, Schema>> props;
  for (const auto& [name, s] : config::datacenter_schema()->properties) props.emplace_back(name, Schema(*s));
  props.emplace_back("delete", string("A list of settings you want to delete.").fmt("pve-configid-list")
                                   .max_len(4096).opt());
  r.add({
      .name = "set_options",
      .verb = Verb::Put,
      .path = "/cluster/options",
      .description = "Set datacenter options.",
      .parameters = ref(object(std::move(props))),
      .returns = ref(null_type()),
      .permission = perm("/", {"Sys.Modify"}),
      .protected_ = true,
      .handler = set_options,
  });
}

}  // namespace pvx::api::handlers
