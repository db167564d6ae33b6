#pragma once
// Discovery of storage a user may add (/nodes/{node}/scan/*). Each scan runs the tool PVE runs
// and parses its output with a pure function, so the parsers are tested with recorded output.
// Scans block (network timeouts): callers run them on worker threads.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::storage::scan {

struct NfsExport { std::string path, options; };          // showmount -e
struct CifsShare { std::string share, description; };     // smbclient -L
struct IscsiTarget { std::string target, portal; };       // iscsiadm -m discovery
struct ZfsPool { std::string pool; };                     // zfs list -t filesystem
struct LvmVg { std::string vg; std::int64_t size = 0, free = 0; };  // vgs
struct LvmThinPool { std::string lv; };                   // lvs (thin pools of a VG)
struct PbsDatastore { std::string store, comment; };      // proxmox-backup-client list

std::vector<NfsExport> parse_showmount(std::string_view output);
std::vector<CifsShare> parse_smbclient_list(std::string_view output);  // `smbclient -g -L` (grepable) output
std::vector<IscsiTarget> parse_iscsi_discovery(std::string_view output);
std::vector<ZfsPool> parse_zfs_pools(std::string_view output);
std::vector<LvmVg> parse_vgs(std::string_view output);
std::vector<LvmThinPool> parse_thinpools(std::string_view output, std::string_view vg);
std::vector<PbsDatastore> parse_pbs_datastores(std::string_view json);

// The scans themselves (run the tools; throw Error with the tool's message on failure, 400 for
// bad input such as a server name that is not a host name or address).
std::vector<NfsExport> nfs(const std::string& server);
std::vector<CifsShare> cifs(const std::string& server, const std::string& username, const std::string& password,
                            const std::string& domain);
std::vector<IscsiTarget> iscsi(const std::string& portal);
std::vector<ZfsPool> zfs();
std::vector<LvmVg> lvm();
std::vector<LvmThinPool> lvmthin(const std::string& vg);
std::vector<PbsDatastore> pbs(const std::string& server, const std::string& username, const std::string& password,
                              const std::string& fingerprint, int port);

}  // namespace pvx::storage::scan
