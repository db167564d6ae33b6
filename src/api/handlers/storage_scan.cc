// /nodes/{node}/scan: what storage a node can see (pvesm scan nfs|cifs|iscsi|lvm|lvmthin|zfs|pbs).
#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "storage/scan.h"

namespace pvx::api::handlers {
namespace {

using namespace schema;

Schema server_param() { return string("The server address (name or IP).").fmt("pve-storage-server"); }

void add_scan(Router& r, const char* name, const char* method_name, const char* description,
              std::vector<std::pair<std::string, Schema>> params, Schema item, Handler handler,
              std::vector<std::string> positional = {}) {
  params.emplace_back("node", std_opt::node());
  r.add({
      .name = method_name,
      .verb = Verb::Get,
      .path = std::string("/nodes/{node}/scan/") + name,
      .description = description,
      .parameters = ref(object(std::move(params))),
      .returns = ref(array(std::move(item))),
      .permission = perm("/storage", {"Datastore.Allocate"}),
      .protected_ = true,
      .proxyto = "node",
      .blocking = true,  // the tools wait on the network
      .handler = std::move(handler),
      .cli = {{"pvesm", std::string("scan ") + name, std::move(positional)}},
  });
}

}  // namespace

void register_storage_scan(Router& r) {
  r.add({
      .name = "index",
      .verb = Verb::Get,
      .path = "/nodes/{node}/scan",
      .description = "Index of available scan methods",
      .parameters = ref(object({{"node", std_opt::node()}})),
      .returns = ref(array(object({{"method", string()}})).link("{method}")),
      .permission = all(),
      .handler = [](RequestContext&) -> Json {
        return dir_index({"cifs", "iscsi", "lvm", "lvmthin", "nfs", "pbs", "zfs"}, "method");
      },
  });
  add_scan(r, "nfs", "nfsscan", "Scan remote NFS server.", {{"server", server_param()}},
           object({{"path", string("The exported path.")}, {"options", string("NFS export options.")}}),
           [](RequestContext& ctx) -> Json {
             Json out = Json::array();
             for (const auto& e : storage::scan::nfs(ctx.str("server"))) out.push_back({{"path", e.path}, {"options", e.options}});
             return out;
           },
           {"server"});
  add_scan(r, "cifs", "cifsscan", "Scan remote CIFS server.",
           {{"server", server_param()},
            {"username", string("User name.").opt()},
            {"password", string("User password.").opt()},
            {"domain", string("SMB domain (Workgroup).").opt()}},
           object({{"share", string("The cifs share name.")}, {"description", string("Descriptive text from server.")}}),
           [](RequestContext& ctx) -> Json {
             Json out = Json::array();
             for (const auto& s : storage::scan::cifs(ctx.str("server"), ctx.opt_str("username").value_or(""),
                                                      ctx.opt_str("password").value_or(""), ctx.opt_str("domain").value_or(""))) {
               out.push_back({{"share", s.share}, {"description", s.description}});
             }
             return out;
           },
           {"server"});
  add_scan(r, "pbs", "pbsscan", "Scan remote Proxmox Backup Server.",
           {{"server", server_param()},
            {"username", string("User-name or API token-ID.")},
            {"password", string("User password or API token secret.")},
            {"fingerprint", string("Certificate SHA 256 fingerprint.").pat("([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}").opt()},
            {"port", integer("Optional port.").min(1).max(65535).def(8007).opt()}},
           object({{"store", string("The datastore name.")}, {"comment", string("Comment from server.").opt()}}),
           [](RequestContext& ctx) -> Json {
             Json out = Json::array();
             for (const auto& d : storage::scan::pbs(ctx.str("server"), ctx.str("username"), ctx.str("password"),
                                                     ctx.opt_str("fingerprint").value_or(""),
                                                     static_cast<int>(ctx.integer_or("port", 8007)))) {
               Json j = {{"store", d.store}};
               if (!d.comment.empty()) j["comment"] = d.comment;
               out.push_back(j);
             }
             return out;
           },
           {"server", "username"});
  add_scan(r, "iscsi", "iscsiscan", "Scan remote iSCSI server.",
           {{"portal", string("The iSCSI portal (IP or DNS name with optional port).").fmt("pve-storage-portal-dns")}},
           object({{"target", string("The iSCSI target name.")}, {"portal", string("The iSCSI portal name.")}}),
           [](RequestContext& ctx) -> Json {
             Json out = Json::array();
             for (const auto& t : storage::scan::iscsi(ctx.str("portal"))) out.push_back({{"target", t.target}, {"portal", t.portal}});
             return out;
           },
           {"portal"});
  add_scan(r, "lvm", "lvmscan", "List local LVM volume groups.", {},
           object({{"vg", string("The LVM logical volume group name.")}}), [](RequestContext&) -> Json {
             Json out = Json::array();
             for (const auto& v : storage::scan::lvm()) out.push_back({{"vg", v.vg}});
             return out;
           });
  add_scan(r, "lvmthin", "lvmthinscan", "List local LVM Thin Pools.",
           {{"vg", string().pat("[a-zA-Z0-9\\.\\+\\_][a-zA-Z0-9\\.\\+\\_\\-]+").max_len(100)}},
           object({{"lv", string("The LVM Thin Pool name (LVM logical volume).")}}), [](RequestContext& ctx) -> Json {
             Json out = Json::array();
             for (const auto& p : storage::scan::lvmthin(ctx.str("vg"))) out.push_back({{"lv", p.lv}});
             return out;
           },
           {"vg"});
  add_scan(r, "zfs", "zfsscan", "Scan zfs pool list on local node.", {},
           object({{"pool", string("ZFS pool name.")}}), [](RequestContext&) -> Json {
             Json out = Json::array();
             for (const auto& p : storage::scan::zfs()) out.push_back({{"pool", p.pool}});
             return out;
           });
}

}  // namespace pvx::api::handlers
