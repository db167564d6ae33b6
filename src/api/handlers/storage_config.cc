// /storage: storage.cfg read and written through the plugins' declared keys (pvesm add/set/remove).
#include <regex>

#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "api/handlers/storage_common.h"
#include "cluster/config_store.h"
#include "schema/formats.h"
#include "storage/plugin_registry.h"
#include "storage/prune.h"
#include "storage/storage_properties.h"
#include "storage/storage_service.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

// A section as the API shows it: keys as stored, plus storage and type; secrets never.
Json section_json(const storage::StorageDef& def) {
  Json j = def.props;
  j["storage"] = def.id;
  j["type"] = def.type;
  if (!j.contains("content")) j["content"] = storage::print_content_list(def.content());  // the type's default
  if (storage::find_plugin(def.type) && storage::find_plugin(def.type)->info().shared && !j.contains("shared")) {
    j["shared"] = 1;
  }
  return j;
}

Json list_storage(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto type = ctx.opt_str("type");
  Json out = Json::array();
  for (const auto& def : svc.all()) {
    if (type && def.type != *type) continue;
    if (!ctx.allowed("/storage/" + def.id, {"Datastore.Audit", "Datastore.AllocateSpace"}, true)) continue;
    out.push_back(section_json(def));
  }
  return out;
}

Json read_storage(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  Json j = section_json(def);
  j["digest"] = svc.load()->digest;
  return j;
}

// "none" means an empty list and cannot be combined with content types, as in PVE.
void check_content_list(const std::string& text) {
  auto items = schema::split_list(text);
  if (items.size() > 1 && std::find(items.begin(), items.end(), "none") != items.end()) {
    throw Error::param("content", "unable to combine 'none' with other content types");
  }
}

// Splits parameters into storage.cfg keys and secrets, typed by the key schemas.
void split_params(const Json& params, const storage::StoragePlugin& plugin, Json& keys,
                  std::map<std::string, std::string>& secrets) {
  static const std::set<std::string> kNotKeys = {"storage", "type", "delete", "digest"};
  const auto& sensitive = plugin.info().sensitive;
  for (auto it = params.begin(); it != params.end(); ++it) {
    if (kNotKeys.count(it.key())) continue;
    if (std::find(sensitive.begin(), sensitive.end(), it.key()) != sensitive.end()) {
      std::string value = it->is_string() ? it->get<std::string>() : it->dump();
      // Secret files hold one line; mount helpers and clients read exactly that.
      if (value.find_first_of(std::string("\n\r\0", 3)) != std::string::npos) {
        throw Error::param(it.key(), "value must not contain line breaks or NUL characters");
      }
      secrets[it.key()] = std::move(value);
      continue;
    }
    Json v = it.value();
    if (v.is_boolean()) v = v.get<bool>() ? 1 : 0;  // storage.cfg keeps booleans as 0/1
    keys[it.key()] = std::move(v);
  }
}

Json create_storage(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  const auto& plugin = storage::plugin_for(ctx.str("type"));
  storage::StorageDef def;
  def.id = ctx.str("storage");
  def.type = ctx.str("type");
  std::map<std::string, std::string> secrets;
  split_params(ctx.params(), plugin, def.props, secrets);

  Error::ParamErrors errors;
  auto allowed = [&](const std::string& key) {
    for (const auto& [name, mode] : plugin.info().options) {
      if (name == key) return true;
    }
    return false;
  };
  for (auto it = def.props.begin(); it != def.props.end(); ++it) {
    if (!allowed(it.key())) errors[it.key()] = "option not allowed for storage type '" + def.type + "'";
  }
  for (const auto& [key, value] : secrets) {
    if (!allowed(key)) errors[key] = "option not allowed for storage type '" + def.type + "'";
  }
  if (def.props.contains("content")) {
    check_content_list(def.props["content"].get<std::string>());
    for (const auto& c : storage::parse_content_list(def.props["content"].get<std::string>())) {
      if (!plugin.info().content.count(c)) errors["content"] = "storage does not support content type '" + c + "'";
    }
    def.props["content"] = storage::print_content_list(storage::parse_content_list(def.props["content"].get<std::string>()));
  } else if (!plugin.info().default_content.empty()) {
    def.props["content"] = storage::print_content_list(plugin.info().default_content);
  }
  if (def.props.contains("format")) {
    const auto& formats = plugin.info().formats;
    auto f = def.props["format"].get<std::string>();
    if (std::find(formats.begin(), formats.end(), f) == formats.end()) errors["format"] = "storage does not support format '" + f + "'";
  }
  if (def.props.contains("prune-backups")) storage::check_prune_options(def.props["prune-backups"].get<std::string>());
  if (!errors.empty()) throw Error::params(std::move(errors));

  svc.add(def, secrets);
  try {
    // As PVE: a storage that cannot be activated here (unreachable server, missing pool) is
    // not kept; the error says why.
    if (!def.flag("disable") && svc.on_this_node(def)) svc.activate(svc.get(def.id));
  } catch (const Error& e) {
    svc.remove(def.id);
    throw Error("create storage failed: " + std::string(e.what()), e.status());
  }
  return {{"storage", def.id}, {"type", def.type}};
}

Json update_storage(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto id = ctx.str("storage");
  auto current = svc.get(id);
  const auto& plugin = svc.plugin(current);
  Json keys = Json::object();
  std::map<std::string, std::string> secrets;
  split_params(ctx.params(), plugin, keys, secrets);
  if (keys.contains("content")) {
    check_content_list(keys["content"].get<std::string>());
    for (const auto& c : storage::parse_content_list(keys["content"].get<std::string>())) {
      if (!plugin.info().content.count(c)) throw Error::param("content", "storage does not support content type '" + c + "'");
    }
    keys["content"] = storage::print_content_list(storage::parse_content_list(keys["content"].get<std::string>()));
  }
  if (keys.contains("prune-backups")) storage::check_prune_options(keys["prune-backups"].get<std::string>());
  std::vector<std::string> remove;
  if (auto d = ctx.opt_str("delete")) remove = split_list(*d);
  svc.update(id, keys, remove, secrets, ctx.opt_str("digest").value_or(""));
  return {{"storage", id}, {"type", current.type}};
}

Json delete_storage(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto id = ctx.str("storage");
  svc.get(id);  // 500 "does not exist" as PVE
  auto users = guests_using_storage(*ctx.services().store, id);
  if (!users.empty()) {
    std::string list;
    for (auto vmid : users) list += (list.empty() ? "" : ", ") + std::to_string(vmid);
    throw Error("storage '" + id + "' is still used by guest(s) " + list + " - remove or move their volumes first", 400);
  }
  svc.remove(id);
  return nullptr;
}

Schema storage_entry_returns() {
  return object({{"storage", string()}}).additional();
}

}  // namespace

void register_storage_config(Router& r) {
  std::vector<std::string> types;
  for (const auto* p : storage::all_plugins()) types.push_back(p->info().type);
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/storage",
      .description = "Storage index.",
      .parameters = ref(object({{"type", enumeration(types, "Only list storage of specific type").opt()}})),
      .returns = ref(array(storage_entry_returns()).link("{storage}")),
      .permission = all().describe("Only list entries where you have 'Datastore.Audit' or 'Datastore.AllocateSpace' "
                                   "permissions on '/storage/<storage>'"),
      .blocking = true,
      .handler = list_storage,
      .cli = {{"pvesm", "config list"}},
  });
  r.add({
      .name = "create",
      .verb = Verb::Post,
      .path = "/storage",
      .description = "Create a new storage.",
      .parameters = ref(storage::storage_create_parameters()),
      .returns = ref(object({{"storage", string("The ID of the created storage.")},
                             {"type", enumeration(types, "The type of the created storage.")},
                             {"config", object({}).additional().opt()}})),
      .permission = perm("/storage", {"Datastore.Allocate"}),
      .protected_ = true,
      .handler = create_storage,
      .cli = {{"pvesm", "add", {"type", "storage"}}},
  });
  r.add({
      .name = "read",
      .verb = Verb::Get,
      .path = "/storage/{storage}",
      .description = "Read storage configuration.",
      .parameters = ref(object({{"storage", std_opt::storage_id().desc("The storage identifier.")}})),
      .returns = ref(object({}).additional()),
      .permission = perm("/storage/{storage}", {"Datastore.Allocate"}),
      .blocking = true,
      .handler = read_storage,
      .cli = {{"pvesm", "config get", {"storage"}}},
  });
  r.add({
      .name = "update",
      .verb = Verb::Put,
      .path = "/storage/{storage}",
      .description = "Update storage configuration.",
      .parameters = ref(storage::storage_update_parameters()),
      .returns = ref(object({{"storage", string("The ID of the created storage.")},
                             {"type", enumeration(types, "The type of the created storage.")},
                             {"config", object({}).additional().opt()}})),
      .permission = perm("/storage", {"Datastore.Allocate"}),
      .protected_ = true,
      .handler = update_storage,
      .cli = {{"pvesm", "set", {"storage"}}},
  });
  r.add({
      .name = "delete",
      .verb = Verb::Delete,
      .path = "/storage/{storage}",
      .description = "Delete storage configuration.",
      .parameters = ref(object({{"storage", std_opt::storage_id().desc("The storage identifier.")}})),
      .returns = ref(null_type()),
      .permission = perm("/storage", {"Datastore.Allocate"}),
      .protected_ = true,
      .handler = delete_storage,
      .cli = {{"pvesm", "remove", {"storage"}}},
  });
}

}  // namespace pvx::api::handlers
