#pragma once
#include <filesystem>
// Pieces shared by the storage handlers: who may see which volume, which guests use a storage,
// and the JSON of a content entry.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "api/request_context.h"
#include "storage/url_download.h"
#include "storage/storage_plugin.h"

namespace pvx::cluster { class ConfigStore; }
namespace pvx::storage { class StorageService; }

namespace pvx::api::handlers {

// A storage's line of `pvesm status` / GET /nodes/{node}/storage (type, content, shared, enabled,
// active and the sizes when it is online; the formats too when asked).
nlohmann::json storage_status_json(storage::StorageService& svc, const storage::StorageDef& def, bool with_formats);

// VMIDs of guests whose configuration references "<storage>:" (disks, mount points, unused
// volumes, ISO drives).
std::vector<std::int64_t> guests_using_storage(cluster::ConfigStore& store, const std::string& storage);
// VMIDs of guests whose configuration names exactly this volume ("<storage>:<volname>").
std::vector<std::int64_t> guests_using_volume(cluster::ConfigStore& store, const std::string& volid);

// PVE's volume access rule: Datastore.Allocate on the storage sees everything; files without
// an owner (iso, vztmpl, snippets, import) need Datastore.Audit or AllocateSpace; an owned volume
// also needs VM.Audit, VM.Config.Disk or VM.Backup on the owner.
bool may_access_volume(const RequestContext& ctx, const std::string& storage, const std::string& vtype,
                       std::int64_t vmid);

// The same rule for a whole listing: the storage-level answers once, the guest-level answer
// once per owner (a listing of 10 000 volumes asks about 200 guests, not 10 000 times).
class VolumeAccess {
 public:
  VolumeAccess(const RequestContext& ctx, const std::string& storage);
  bool allowed(const std::string& vtype, std::int64_t vmid);

 private:
  const RequestContext& ctx_;
  bool everything_ = false;
  bool storage_ = false;
  std::map<std::int64_t, bool> guests_;
};

schema::Json content_entry_json(const storage::VolumeInfo& v);

// "<storage>:<volname>" from a {volume} path parameter that may or may not carry the storage.
std::string full_volid(const std::string& storage, const std::string& volume);

// The "download" task of download-url and of template downloads (aplinfo): fetches `url` into a
// hidden file in `dir`, checks the checksum (`algorithm` empty: none), decompresses
// (`compression` empty: none) and renames it to `target`; a failure leaves no file behind.
std::string spawn_url_download(RequestContext& ctx, const std::string& storage_id, const std::filesystem::path& dir,
                               const std::filesystem::path& target, const std::string& url,
                               storage::DownloadOptions opts, const std::string& algorithm,
                               const std::string& expected, const std::string& compression);

}  // namespace pvx::api::handlers
