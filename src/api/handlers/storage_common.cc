#include "api/handlers/storage_common.h"

#include "api/handlers/guest_ids.h"
#include "base/error.h"
#include "base/strings.h"
#include "cluster/config_store.h"

namespace pvx::api::handlers {


std::vector<std::int64_t> guests_using_storage(cluster::ConfigStore& store, const std::string& storage) {
  const std::string needle = storage + ":";
  // A value starts with the volume id ("local:100/vm-100-disk-0.qcow2,size=4G") or carries it
  // after '=' ("file=local:iso/x.iso").
  return guests_where(store, [&](std::string_view, std::string_view value) {
    return value.starts_with(needle) || value.find("=" + needle) != std::string_view::npos;
  });
}

std::vector<std::int64_t> guests_using_volume(cluster::ConfigStore& store, const std::string& volid) {
  // The whole volume id, as the first item of the value or after '=', ended by ',' or the line.
  return guests_where(store, [&](std::string_view, std::string_view value) {
    for (auto pos = value.find(volid); pos != std::string_view::npos; pos = value.find(volid, pos + 1)) {
      auto end = pos + volid.size();
      bool starts = pos == 0 || value[pos - 1] == '=';
      if (starts && (end == value.size() || value[end] == ',')) return true;
    }
    return false;
  });
}

bool may_access_volume(const RequestContext& ctx, const std::string& storage, const std::string& vtype,
                       std::int64_t vmid) {
  VolumeAccess access(ctx, storage);
  return access.allowed(vtype, vmid);
}

VolumeAccess::VolumeAccess(const RequestContext& ctx, const std::string& storage) : ctx_(ctx) {
  const std::string path = "/storage/" + storage;
  everything_ = ctx.allowed(path, {"Datastore.Allocate"});
  storage_ = everything_ || ctx.allowed(path, {"Datastore.Audit", "Datastore.AllocateSpace"}, true);
}

bool VolumeAccess::allowed(const std::string& vtype, std::int64_t vmid) {
  if (everything_) return true;
  if (!storage_) return false;
  if (vmid == 0 || vtype == "iso" || vtype == "vztmpl" || vtype == "snippets" || vtype == "import") return true;
  auto it = guests_.find(vmid);
  if (it != guests_.end()) return it->second;
  bool ok = ctx_.allowed("/vms/" + std::to_string(vmid), {"VM.Audit", "VM.Config.Disk", "VM.Backup"}, true);
  guests_.emplace(vmid, ok);
  return ok;
}

schema::Json content_entry_json(const storage::VolumeInfo& v) {
  schema::Json j = {{"volid", v.volid}, {"content", v.content}, {"format", v.format}, {"size", v.size},
                    {"ctime", v.ctime}};
  if (v.used) j["used"] = *v.used;
  if (v.vmid) j["vmid"] = v.vmid;
  if (!v.parent.empty()) j["parent"] = v.parent;
  if (!v.notes.empty()) j["notes"] = v.notes;
  if (v.content == "backup") j["protected"] = v.is_protected ? 1 : 0;
  return j;
}

std::string full_volid(const std::string& storage, const std::string& volume) {
  auto colon = volume.find(':');
  if (colon == std::string::npos) return storage + ":" + volume;
  if (volume.substr(0, colon) != storage) {
    throw Error::param("volume", "volume '" + volume + "' is not on storage '" + storage + "'");
  }
  return volume;
}

}  // namespace pvx::api::handlers
