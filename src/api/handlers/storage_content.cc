// /nodes/{node}/storage/{storage}/content: list, allocate, inspect, annotate, copy and delete
// volumes (pvesm list, alloc, free, path).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "api/handlers/storage_common.h"
#include "base/process.h"
#include "base/strings.h"
#include "schema/formats.h"
#include "storage/file_formats.h"
#include "storage/plugin_registry.h"
#include "storage/storage_service.h"
#include "storage/volume_id.h"
#include "tasks/task_runner.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

Json list_content(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  svc.activate(def);
  storage::ContentSet content;
  if (auto c = ctx.opt_str("content")) content.insert(*c);
  auto vmid = ctx.integer_or("vmid", 0);
  Json out = Json::array();
  VolumeAccess access(ctx, def.id);
  for (const auto& v : svc.plugin(def).list_volumes(def, content, vmid)) {
    if (!access.allowed(v.content, v.vmid)) continue;
    out.push_back(content_entry_json(v));
  }
  return out;
}

// "4G", "512M", "1024" (KiB) as PVE's alloc takes them.
std::int64_t size_kib(const std::string& text) {
  std::int64_t mult = 1;
  std::string digits = text;
  if (!digits.empty() && (digits.back() == 'M' || digits.back() == 'G')) {
    mult = digits.back() == 'M' ? 1024 : 1024 * 1024;
    digits.pop_back();
  }
  std::int64_t n = 0;
  if (digits.empty() || digits.size() > 15 || digits.find_first_not_of("0123456789") != std::string::npos) {
    throw Error::param("size", "invalid size '" + text + "'");
  }
  n = std::stoll(digits);
  return n * mult;
}

Json alloc_volume(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  const auto& plugin = svc.plugin(def);
  const auto vmid = ctx.integer("vmid");
  std::string name = ctx.str("filename");
  auto format = ctx.opt_str("format");
  if (auto fmt = storage::image_format_of(name)) {
    if (format && *format != *fmt) throw Error::param("format", "format '" + *format + "' does not match the file name");
    format = fmt;
  } else if (name.find('.') != std::string::npos) {
    throw Error::param("filename", "unable to parse volume filename '" + name + "'");
  }
  if (!name.empty() && !name.starts_with("vm-" + std::to_string(vmid) + "-")) {
    throw Error::param("filename", "illegal name '" + name + "' - should be 'vm-" + std::to_string(vmid) + "-*'");
  }
  if (!format) format = plugin.info().default_format.empty() ? "raw" : plugin.info().default_format;
  const auto& formats = plugin.info().formats;
  if (std::find(formats.begin(), formats.end(), *format) == formats.end()) {
    throw Error::param("format", "storage '" + def.id + "' does not support format '" + *format + "'");
  }
  auto content = def.content();
  if (!content.count("images") && !content.count("rootdir")) {
    throw Error("storage '" + def.id + "' does not support vm images", 400);
  }
  std::int64_t kib = size_kib(ctx.str("size"));
  if (*format != "subvol" && kib <= 0) throw Error::param("size", "size must be greater than 0");
  svc.activate(def);
  // File names of file-based storage carry the format, block devices' names do not.
  if (!name.empty() && plugin.info().file_based && !storage::image_format_of(name)) name += "." + *format;
  std::string volname;
  if (plugin.info().file_based) {
    volname = plugin.alloc_image(def, vmid, *format, name, kib);
  } else {
    auto guard = svc.lock_storage(def.id);
    volname = plugin.alloc_image(def, vmid, *format, name, kib);
  }
  return def.id + ":" + volname;
}

struct VolumeRef {
  storage::StorageService::Resolved r;
  storage::VolumeName parsed;
};

VolumeRef volume_ref(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto volid = full_volid(ctx.str("storage"), ctx.str("volume"));
  VolumeRef v{svc.resolve(volid), {}};
  v.parsed = v.r.plugin->parse_volname(v.r.def, v.r.volname);
  return v;
}

Json volume_info(RequestContext& ctx) {
  auto v = volume_ref(ctx);
  if (!may_access_volume(ctx, v.r.def.id, v.parsed.vtype, v.parsed.vmid)) {
    throw Error("Permission check failed (/storage/" + v.r.def.id + ", Datastore.Audit)", 403);
  }
  auto& svc = *ctx.services().storage;
  svc.activate(v.r.def);
  auto size = v.r.plugin->volume_size(v.r.def, v.r.volname);
  Json j = {{"path", v.r.plugin->path(v.r.def, v.r.volname)},
            {"size", size.size},
            {"used", size.used},
            {"format", v.parsed.format}};
  if (v.parsed.vtype == "backup") {
    j["notes"] = v.r.plugin->get_notes(v.r.def, v.r.volname);
    j["protected"] = v.r.plugin->get_protected(v.r.def, v.r.volname) ? 1 : 0;
  }
  return j;
}

Json update_volume(RequestContext& ctx) {
  auto v = volume_ref(ctx);
  if (!may_access_volume(ctx, v.r.def.id, v.parsed.vtype, v.parsed.vmid)) {
    throw Error("Permission check failed (/storage/" + v.r.def.id + ", Datastore.Audit)", 403);
  }
  ctx.services().storage->activate(v.r.def);
  if (auto notes = ctx.opt_str("notes")) v.r.plugin->set_notes(v.r.def, v.r.volname, *notes);
  if (ctx.has("protected")) v.r.plugin->set_protected(v.r.def, v.r.volname, ctx.flag("protected"));
  return nullptr;
}

Json delete_volume(RequestContext& ctx) {
  auto v = volume_ref(ctx);
  const std::string volid = v.r.def.id + ":" + v.r.volname;
  const std::string storage_path = "/storage/" + v.r.def.id;
  bool ok = ctx.allowed(storage_path, {"Datastore.Allocate"});
  if (!ok && v.parsed.vtype == "backup" && v.parsed.vmid) {
    ok = ctx.allowed(storage_path, {"Datastore.AllocateSpace"}) &&
         ctx.allowed("/vms/" + std::to_string(v.parsed.vmid), {"VM.Backup"});
  }
  if (!ok) throw Error("Permission check failed (" + storage_path + ", Datastore.Allocate)", 403);
  if (v.parsed.vtype == "images" || v.parsed.vtype == "rootdir") {
    auto users = guests_using_volume(*ctx.services().store, volid);
    if (!users.empty()) {
      throw Error("unable to delete volume '" + volid + "' - still used by guest " + std::to_string(users.front()), 400);
    }
  }
  if (v.parsed.vtype == "backup" && v.r.plugin->get_protected(v.r.def, v.r.volname)) {
    throw Error("unable to delete volume '" + volid + "' - backup is protected", 400);
  }
  auto& svc = *ctx.services().storage;
  auto def = v.r.def;
  auto volname = v.r.volname;
  const auto* plugin = v.r.plugin;
  auto upid = ctx.services().tasks->spawn("imgdel", def.id, ctx.who().full(), [&svc, def, volname, plugin](tasks::TaskContext& task) {
    svc.activate(def);
    if (!plugin->info().file_based) {
      auto guard = svc.lock_storage(def.id);
      plugin->free_image(def, volname);
    } else {
      plugin->free_image(def, volname);
    }
    task.log("removed volume '" + def.id + ":" + volname + "'");
  });
  if (auto delay = ctx.opt_integer("delay")) {
    auto& tasks = *ctx.services().tasks;
    if (tasks.wait(upid.str(), std::chrono::seconds(*delay))) {
      auto st = tasks.status(upid.str());
      if (st && st->exitstatus != "OK") throw Error(st->exitstatus, 500);
      return nullptr;
    }
  }
  return upid.str();
}

// Where a copy goes, decided before the task starts so that a bad target is a 400 naming it.
struct CopyPlan {
  bool image = false;
  std::int64_t vmid = 0;
  std::string format, name;  // image: format and name ("" = next free); file: the file name
  std::filesystem::path file;  // file: the target path
};

CopyPlan plan_copy(const storage::StorageDef& dst, const storage::StoragePlugin& dst_plugin,
                   const storage::VolumeName& src, const std::string& dst_name) {
  CopyPlan plan;
  if (src.vtype == "images" || src.vtype == "rootdir") {
    if (src.format == "subvol") throw Error::param("volume", "copying container volumes is not supported");
    auto content = dst.content();
    if (!content.count("images") && !content.count("rootdir")) {
      throw Error::param("target", "storage '" + dst.id + "' does not support disk images");
    }
    plan.image = true;
    plan.vmid = src.vmid;
    plan.format = src.format;
    const auto& formats = dst_plugin.info().formats;
    if (std::find(formats.begin(), formats.end(), plan.format) == formats.end()) plan.format = dst_plugin.info().default_format;
    if (!dst_name.empty()) {
      // A full target volume name also names the owner ("102/vm-102-disk-0.qcow2").
      storage::VolumeName t;
      try {
        t = dst_plugin.parse_volname(dst, dst_name);
      } catch (const Error& e) {
        throw Error::param("target", e.params().empty() ? e.what() : e.params().begin()->second);
      }
      if ((t.vtype != "images" && t.vtype != "rootdir") || t.format == "subvol" || !t.base_name.empty() || t.is_base) {
        throw Error::param("target", "'" + dst_name + "' is not a name for a new disk image");
      }
      if (std::find(formats.begin(), formats.end(), t.format) == formats.end()) {
        throw Error::param("target", "storage '" + dst.id + "' does not support format '" + t.format + "'");
      }
      plan.name = t.name;
      plan.vmid = t.vmid;
      plan.format = t.format;
    }
    return plan;
  }
  auto dir = dst_plugin.content_dir(dst, src.vtype);
  if (!dir || !dst.content().count(src.vtype)) {
    throw Error::param("target", "storage '" + dst.id + "' does not support content type '" + src.vtype + "'");
  }
  std::string name = src.name;
  if (!dst_name.empty()) {
    auto slash = dst_name.find('/');
    if (slash == std::string::npos || dst_name.substr(0, slash) != src.vtype) {
      throw Error::param("target", "target must be '" + dst.id + ":" + src.vtype + "/<name>'");
    }
    name = dst_name.substr(slash + 1);
  }
  if (!storage::classify_file(src.vtype, name)) throw Error::param("target", "invalid target name '" + name + "'");
  plan.name = name;
  plan.file = *dir / name;
  if (std::filesystem::exists(plan.file)) throw Error::param("target", "file '" + plan.file.string() + "' already exists");
  return plan;
}

Json copy_volume(RequestContext& ctx) {
  auto v = volume_ref(ctx);
  auto& svc = *ctx.services().storage;
  if (auto tn = ctx.opt_str("target_node"); tn && *tn != ctx.services().node) {
    throw Error::param("target_node", "copying to another node is not supported yet");
  }
  // target: "<storage>" or "<storage>:<volname>".
  std::string target = ctx.str("target");
  std::string dst_storage = target.substr(0, target.find(':'));
  std::string dst_name = target.find(':') == std::string::npos ? "" : target.substr(target.find(':') + 1);
  if (schema::check_format("pve-storage-id", dst_storage)) throw Error::param("target", "invalid storage in '" + target + "'");
  auto dst = svc.get(dst_storage);
  ctx.check("/storage/" + dst.id, {"Datastore.AllocateSpace"});
  if (!may_access_volume(ctx, v.r.def.id, v.parsed.vtype, v.parsed.vmid)) {
    throw Error("Permission check failed (/storage/" + v.r.def.id + ", Datastore.Audit)", 403);
  }
  const auto& dst_plugin = svc.plugin(dst);
  CopyPlan plan = plan_copy(dst, dst_plugin, v.parsed, dst_name);
  std::string src_volid = v.r.def.id + ":" + v.r.volname;
  auto parsed = v.parsed;
  auto src = v.r;
  auto upid = ctx.services().tasks->spawn("imgcopy", src.def.id, ctx.who().full(),
      [&svc, src, parsed, dst, &dst_plugin, plan, src_volid](tasks::TaskContext& task) {
    svc.activate(src.def);
    svc.activate(dst);
    if (plan.image) {
      auto size = src.plugin->volume_size(src.def, src.volname);
      std::string new_vol = dst_plugin.alloc_image(dst, plan.vmid, plan.format, plan.name, (size.size + 1023) / 1024);
      try {
        run_command({"qemu-img", "convert", "-p", "-n", "-f", parsed.format, "-O", plan.format,
                     src.plugin->path(src.def, src.volname), dst_plugin.path(dst, new_vol)},
                    {.timeout = std::chrono::hours(24)});
      } catch (...) {
        dst_plugin.free_image(dst, new_vol);
        throw;
      }
      task.log("copied '" + src_volid + "' to '" + dst.id + ":" + new_vol + "'");
      return;
    }
    std::filesystem::create_directories(plan.file.parent_path());
    const std::string part = plan.file.string() + ".pvx-copy";
    try {
      run_command({"cp", "--sparse=always", "--", src.plugin->path(src.def, src.volname), part},
                  {.timeout = std::chrono::hours(24)});
      // Never replaces a file that appeared meanwhile (another copy, an upload).
      if (::renameat2(AT_FDCWD, part.c_str(), AT_FDCWD, plan.file.c_str(), RENAME_NOREPLACE) != 0) {
        throw Error("unable to store '" + plan.file.string() + "': " + std::strerror(errno));
      }
    } catch (...) {
      std::error_code ignore;
      std::filesystem::remove(part, ignore);
      throw;
    }
    task.log("copied '" + src_volid + "' to '" + dst.id + ":" + parsed.vtype + "/" + plan.name + "'");
  });
  return upid.str();
}

Schema volume_param(const char* d = "Volume identifier") { return string(d); }
Schema storage_param_opt() { return std_opt::storage_id().desc("The storage identifier.").opt(); }

}  // namespace

void register_storage_content(Router& r) {
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/nodes/{node}/storage/{storage}/content",
      .description = "List storage content.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"storage", std_opt::storage_id().desc("The storage identifier.")},
          {"content", string("Only list content of this type.").fmt("pve-storage-content").opt()},
          {"vmid", std_opt::vmid().desc("Only list images for this VM").opt()},
      })),
      .returns = ref(array(object({
          {"volid", string("Volume identifier.")},
          {"content", string("Content type.")},
          {"format", string("Format identifier ('raw', 'qcow2', 'subvol', 'iso', 'tgz' ...)")},
          {"size", integer("Volume size in bytes.").render("bytes")},
          {"used", integer("Used space. Please note that most storage plugins do not report anything useful here.").render("bytes").opt()},
          {"ctime", integer("Creation time (seconds since the UNIX Epoch).").min(0).opt()},
          {"vmid", integer("Associated Owner VMID.").opt()},
          {"parent", string("Volume identifier of parent (for linked cloned).").opt()},
          {"notes", string("Optional notes. If they contain multiple lines, only the first one is returned here.").opt()},
          {"protected", boolean("Protection status. Currently only supported for backups.").opt()},
          {"encrypted", string("If whole backup is encrypted, value is the fingerprint or '1'  if encrypted.").opt()},
          {"verification", object({{"state", string("Last backup verification state.")},
                                   {"upid", string("Last backup verification UPID.")}}).opt()},
      })).link("{volid}")),
      .permission = perm("/storage/{storage}", {"Datastore.Audit", "Datastore.AllocateSpace"}, true),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = list_content,
      .cli = {{"pvesm", "list", {"storage"}, {}, "", "storage-content"}},
  });
  r.add({
      .name = "create",
      .verb = Verb::Post,
      .path = "/nodes/{node}/storage/{storage}/content",
      .description = "Allocate disk images.",
      .parameters = ref(object({
          {"node", std_opt::node()},
          {"storage", std_opt::storage_id().desc("The storage identifier.")},
          {"filename", string("The name of the file to create.")},
          {"vmid", std_opt::vmid().desc("Specify owner VM")},
          {"size", string("Size in kilobyte (1024 bytes). Optional suffixes 'M' (megabyte, 1024K) and 'G' (gigabyte, 1024M)")
                       .pat("\\d+[MG]?")},
          {"format", enumeration({"raw", "qcow2", "subvol", "vmdk"}, "Format of the image.").req("size").opt()},
      })),
      .returns = ref(string("Volume identifier")),
      .permission = perm("/storage/{storage}", {"Datastore.AllocateSpace"}),
      .protected_ = true,
      .proxyto = "node",
      .handler = alloc_volume,
      .cli = {{"pvesm", "alloc", {"storage", "vmid", "filename", "size"}}},
  });
  r.add({
      .name = "info",
      .verb = Verb::Get,
      .path = "/nodes/{node}/storage/{storage}/content/{volume}",
      .description = "Get volume attributes",
      .parameters = ref(object({{"node", std_opt::node()}, {"storage", storage_param_opt()}, {"volume", volume_param()}})),
      .returns = ref(object({
          {"path", string("The Path")},
          {"size", integer("Volume size in bytes.").render("bytes")},
          {"used", integer("Used space. Please note that most storage plugins do not report anything useful here.").render("bytes")},
          {"format", string("Format identifier ('raw', 'qcow2', 'subvol', 'iso', 'tgz' ...)")},
          {"notes", string("Optional notes.").opt()},
          {"protected", boolean("Protection status. Currently only supported for backups.").opt()},
      })),
      .permission = all().describe("You need read access for the volume."),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,
      .handler = volume_info,
  });
  r.add({
      .name = "updateattributes",
      .verb = Verb::Put,
      .path = "/nodes/{node}/storage/{storage}/content/{volume}",
      .description = "Update volume attributes",
      .parameters = ref(object({{"node", std_opt::node()},
                                {"storage", storage_param_opt()},
                                {"volume", volume_param()},
                                {"notes", string("The new notes.").opt()},
                                {"protected", boolean("Protection status. Currently only supported for backups.").opt()}})),
      .returns = ref(null_type()),
      .permission = all().describe("You need read access for the volume."),
      .protected_ = true,
      .proxyto = "node",
      .handler = update_volume,
  });
  r.add({
      .name = "delete",
      .verb = Verb::Delete,
      .path = "/nodes/{node}/storage/{storage}/content/{volume}",
      .description = "Delete volume",
      .parameters = ref(object({{"node", std_opt::node()},
                                {"storage", storage_param_opt()},
                                {"volume", volume_param()},
                                {"delay", integer("Time to wait for the task to finish. We return 'null' if the task "
                                                  "finish within that time.")
                                              .min(1)
                                              .max(30)
                                              .opt()}})),
      .returns = ref(string().opt()),
      .permission = all().describe("You need 'Datastore.Allocate' privilege on the storage (or "
                                   "'Datastore.AllocateSpace' for backup volumes if you have VM.Backup privilege on the VM)."),
      .protected_ = true,
      .proxyto = "node",
      .handler = delete_volume,
      .cli = {{"pvesm", "free", {"volume"}}},
  });
  r.add({
      .name = "copy",
      .verb = Verb::Post,
      .path = "/nodes/{node}/storage/{storage}/content/{volume}",
      .description = "Copy a volume. This is experimental code - do not use.",
      .parameters = ref(object({{"node", std_opt::node()},
                                {"storage", storage_param_opt()},
                                {"volume", volume_param("Source volume identifier")},
                                {"target", string("Target volume identifier")},
                                {"target_node", std_opt::node().desc("Target node. Default is local node.").opt()}})),
      .returns = ref(string()),
      .permission = all().describe("You need read access for the source volume and 'Datastore.AllocateSpace' on the target storage."),
      .protected_ = true,
      .proxyto = "node",
      .handler = copy_volume,
  });
}

}  // namespace pvx::api::handlers
