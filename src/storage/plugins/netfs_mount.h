#pragma once
// Mount commands of the network file storages, built by pure functions from the storage
// definition so they can be checked without a server. Secrets never appear in an argv: they are
// passed as the path of a private file (see SecretFile).
#include <string>
#include <string_view>
#include <vector>

#include "storage/plugins/mount_util.h"

namespace pvx::storage {

// mount -t nfs <server>:<export> <path> [-o <options>]
std::vector<std::string> nfs_mount_argv(const StorageDef& def);
// NFS answers on 2049 unless the options name another port.
std::vector<Endpoint> nfs_endpoints(const StorageDef& def);

// mount -t cifs //<server>/<share><subdir> <path> -o soft, then either nothing more (Kerberos,
// `sec=krb5*` in options), username + credentials file + domain (a password is set), or guest;
// then vers=<smbversion|default> and the free-form options.
std::vector<std::string> cifs_mount_argv(const StorageDef& def, const std::string& credentials_file);
bool cifs_uses_kerberos(std::string_view options);
// The content of a mount.cifs credentials file for `password`; throws 400 on a newline.
std::string cifs_credentials(const std::string& password);
std::vector<Endpoint> cifs_endpoints(const StorageDef& def);

// Kernel client: mount -t ceph <mons>:<subdir> <path> -o name=<user>[,secretfile=][,fs=][,<options>]
// FUSE (`fuse` 1): mount -t fuse.ceph <mons>:<subdir> <path> -o ceph.id=<user>[,ceph.keyfile=]...
// Without `monhost` the source is ":<subdir>" and the helper takes the monitors from ceph.conf.
std::vector<std::string> cephfs_mount_argv(const StorageDef& def, const std::string& secret_file);
// `monhost` ("10.0.0.1 10.0.0.2:6789,[fd00::1]:3300") as host/port pairs; port 0 when not given.
std::vector<Endpoint> parse_monhost(std::string_view monhost);
// Each monitor on its port, or on 3300 (msgr2) and 6789 (legacy) when none is given.
std::vector<Endpoint> cephfs_endpoints(const StorageDef& def);
// The bare base64 key mount.ceph wants in a secret file, from either a bare key or a keyring
// ("[client.admin]\n\tkey = AQ...==").
std::string cephfs_secret(std::string_view keyring);

// mount -t glusterfs <server>:<volume> <path> [-o transport=<t>]
std::vector<std::string> glusterfs_mount_argv(const StorageDef& def, const std::string& server);
// glusterd's management port 24007 on `server` (default localhost), then `server2`.
std::vector<Endpoint> glusterfs_endpoints(const StorageDef& def);

}  // namespace pvx::storage
