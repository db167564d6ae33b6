// Network file storages (nfs, cifs, cephfs, glusterfs): mount commands, defaults, the fast
// failure against a server that does not answer, and the NFS/CIFS scan parsers. No NFS/SMB/Ceph/
// Gluster server exists where these run, so no real mount is attempted.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "storage/plugins/netfs_mount.h"
#include "storage/plugins/plugins.h"
#include "storage/scan.h"

namespace fs = std::filesystem;

namespace pvx::storage {
namespace {

using Argv = std::vector<std::string>;

StorageDef make_def(const std::string& type, Json props, const HostEnv* host = nullptr) {
  StorageDef def;
  def.id = "store1";
  def.type = type;
  def.props = std::move(props);
  def.host = host;
  return def;
}

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(PVX_STORAGE_TESTDATA) + "/netfs/" + name);
  EXPECT_TRUE(in) << name;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool argv_mentions(const Argv& argv, const std::string& needle) {
  return std::any_of(argv.begin(), argv.end(), [&](const std::string& a) { return a.find(needle) != std::string::npos; });
}

// A TCP port on 127.0.0.1 nobody listens on: bound then closed, so a connect is refused.
int closed_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

void expect_param_error(const std::function<void()>& f, const std::string& param) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_TRUE(e.params().count(param)) << e.what();
  }
}

// --- NFS

TEST(NfsMount, ArgvAsPve) {
  auto def = make_def("nfs", {{"server", "10.0.0.5"}, {"export", "/srv/nfs"}, {"path", "/mnt/pve/store1"},
                              {"options", "vers=4.2,soft"}});
  EXPECT_EQ(nfs_mount_argv(def),
            (Argv{"mount", "-t", "nfs", "10.0.0.5:/srv/nfs", "/mnt/pve/store1", "-o", "vers=4.2,soft"}));
  def.props.erase("options");
  EXPECT_EQ(nfs_mount_argv(def), (Argv{"mount", "-t", "nfs", "10.0.0.5:/srv/nfs", "/mnt/pve/store1"}));
  def.props["server"] = "fd00::5";
  EXPECT_EQ(nfs_mount_argv(def)[3], "[fd00::5]:/srv/nfs");
}

TEST(NfsMount, RefusesWhatMountWouldMisread) {
  auto def = make_def("nfs", {{"server", "-oexec"}, {"export", "/srv"}, {"path", "/mnt/x"}});
  expect_param_error([&] { nfs_mount_argv(def); }, "server");
  def.props["server"] = "nas";
  def.props["export"] = "srv";
  expect_param_error([&] { nfs_mount_argv(def); }, "export");
  def.props["export"] = "/srv";
  def.props["path"] = "relative";
  expect_param_error([&] { nfs_mount_argv(def); }, "path");
}

TEST(NfsMount, ChecksTheNfsPortOrTheConfiguredOne) {
  auto def = make_def("nfs", {{"server", "nas"}, {"export", "/srv"}});
  ASSERT_EQ(nfs_endpoints(def).size(), 1u);
  EXPECT_EQ(nfs_endpoints(def)[0].port, 2049);
  def.props["options"] = "vers=4,port=20490";
  EXPECT_EQ(nfs_endpoints(def)[0].port, 20490);
  EXPECT_EQ(port_option("soft, port=1234"), 1234);
  EXPECT_EQ(port_option("vers=3,mountport=99"), 0);
}

// --- CIFS

TEST(CifsMount, GuestWithoutPassword) {
  auto def = make_def("cifs", {{"server", "fileserver"}, {"share", "vm"}, {"path", "/mnt/pve/store1"}});
  EXPECT_EQ(cifs_mount_argv(def, {}), (Argv{"mount", "-t", "cifs", "//fileserver/vm", "/mnt/pve/store1", "-o", "soft",
                                            "-o", "guest,username=guest", "-o", "vers=default"}));
}

TEST(CifsMount, CredentialsFileDomainVersionSubdirOptions) {
  auto def = make_def("cifs", {{"server", "fileserver"}, {"share", "vm"}, {"path", "/mnt/pve/store1"},
                               {"username", "alice"}, {"domain", "CORP"}, {"smbversion", "3.11"},
                               {"subdir", "/pve/images"}, {"options", "noserverino"}});
  def.secrets["password"] = "s3cret,with,commas";
  auto argv = cifs_mount_argv(def, "/run/creds/secret");
  EXPECT_EQ(argv, (Argv{"mount", "-t", "cifs", "//fileserver/vm/pve/images", "/mnt/pve/store1", "-o", "soft", "-o",
                        "username=alice", "-o", "credentials=/run/creds/secret", "-o", "domain=CORP", "-o",
                        "vers=3.11", "-o", "noserverino"}));
  EXPECT_FALSE(argv_mentions(argv, "s3cret"));
  EXPECT_EQ(cifs_credentials("s3cret,with,commas"), "password=s3cret,with,commas\n");
  expect_param_error([] { cifs_credentials("two\nlines"); }, "password");
}

TEST(CifsMount, KerberosNeedsNoCredentials) {
  EXPECT_TRUE(cifs_uses_kerberos("vers=3, sec=krb5i"));
  EXPECT_TRUE(cifs_uses_kerberos("SEC=KRB5"));
  EXPECT_FALSE(cifs_uses_kerberos("sec=ntlmssp"));
  auto def = make_def("cifs", {{"server", "fs"}, {"share", "s"}, {"path", "/mnt/x"}, {"username", "bob"},
                               {"options", "sec=krb5"}});
  auto argv = cifs_mount_argv(def, "/tmp/creds");
  EXPECT_FALSE(argv_mentions(argv, "credentials="));
  EXPECT_FALSE(argv_mentions(argv, "guest"));
  EXPECT_EQ(argv.back(), "sec=krb5");
}

TEST(CifsMount, RefusesCommasInUsername) {
  auto def = make_def("cifs", {{"server", "fs"}, {"share", "s"}, {"path", "/mnt/x"}, {"username", "a,uid=0"}});
  expect_param_error([&] { cifs_mount_argv(def, "/tmp/creds"); }, "username");
}

// --- CephFS

TEST(CephfsMount, KernelClient) {
  auto def = make_def("cephfs", {{"monhost", "10.0.0.1 10.0.0.2:6789;[fd00::3]:3300"}, {"path", "/mnt/pve/store1"},
                                 {"username", "pve"}, {"fs-name", "cephfs2"}, {"subdir", "/pve"}});
  EXPECT_EQ(cephfs_mount_argv(def, "/run/x/secret"),
            (Argv{"mount", "-t", "ceph", "10.0.0.1,10.0.0.2:6789,[fd00::3]:3300:/pve", "/mnt/pve/store1", "-o",
                  "name=pve,secretfile=/run/x/secret,fs=cephfs2"}));
  def.props = {{"path", "/mnt/pve/store1"}};
  EXPECT_EQ(cephfs_mount_argv(def, {}), (Argv{"mount", "-t", "ceph", ":/", "/mnt/pve/store1", "-o", "name=admin"}));
}

TEST(CephfsMount, Fuse) {
  auto def = make_def("cephfs", {{"monhost", "10.0.0.1,10.0.0.2"}, {"path", "/mnt/pve/store1"}, {"fuse", true},
                                 {"subdir", "/pve"}, {"options", "noatime"}});
  EXPECT_EQ(cephfs_mount_argv(def, "/run/x/secret"),
            (Argv{"mount", "-t", "fuse.ceph", "10.0.0.1,10.0.0.2:/pve", "/mnt/pve/store1", "-o",
                  "ceph.id=admin,ceph.keyfile=/run/x/secret,ceph.mon_host=10.0.0.1 10.0.0.2,"
                  "ceph.client_mountpoint=/pve,noatime"}));
}

TEST(CephfsMount, MonitorsAndSecrets) {
  auto mons = parse_monhost("[v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0] mon2.example.com fd00::9");
  ASSERT_EQ(mons.size(), 4u);
  EXPECT_EQ(mons[0].host, "10.0.0.1");
  EXPECT_EQ(mons[0].port, 3300);
  EXPECT_EQ(mons[1].port, 6789);
  EXPECT_EQ(mons[2].host, "mon2.example.com");
  EXPECT_EQ(mons[2].port, 0);
  EXPECT_EQ(mons[3].host, "fd00::9");
  auto def = make_def("cephfs", {{"monhost", "10.0.0.7"}});
  auto eps = cephfs_endpoints(def);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].port, 3300);
  EXPECT_EQ(eps[1].port, 6789);

  EXPECT_EQ(cephfs_secret("AQBSdFhkAAAAABAAg6kqJeOQ6Bcr5Za0XHKv0g==\n"), "AQBSdFhkAAAAABAAg6kqJeOQ6Bcr5Za0XHKv0g==");
  EXPECT_EQ(cephfs_secret("[client.admin]\n\tkey = AQBSdFhkAAAAABAAg6kqJeOQ6Bcr5Za0XHKv0g==\n\tcaps mds = \"allow *\"\n"),
            "AQBSdFhkAAAAABAAg6kqJeOQ6Bcr5Za0XHKv0g==");
  expect_param_error([] { cephfs_secret("[client.admin]\n"); }, "keyring");
}

// --- GlusterFS

TEST(GlusterfsMount, ServerFallbackAndTransport) {
  auto def = make_def("glusterfs", {{"server", "g1"}, {"server2", "g2"}, {"volume", "vmstore"},
                                    {"path", "/mnt/pve/store1"}, {"transport", "tcp"}});
  EXPECT_EQ(glusterfs_mount_argv(def, "g1"), (Argv{"mount", "-t", "glusterfs", "g1:vmstore", "/mnt/pve/store1", "-o",
                                                   "backup-volfile-servers=g2,transport=tcp"}));
  // Mounted through the backup server when the first one is down.
  EXPECT_EQ(glusterfs_mount_argv(def, "g2")[6], "backup-volfile-servers=g1,transport=tcp");
  auto eps = glusterfs_endpoints(def);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].host, "g1");
  EXPECT_EQ(eps[1].host, "g2");
  EXPECT_EQ(eps[1].port, 24007);

  auto local = make_def("glusterfs", {{"volume", "v"}, {"path", "/mnt/x"}});
  EXPECT_EQ(glusterfs_mount_argv(local, "localhost"), (Argv{"mount", "-t", "glusterfs", "localhost:v", "/mnt/x"}));
  local.props["volume"] = "-x";
  expect_param_error([&] { glusterfs_mount_argv(local, "localhost"); }, "volume");
}

// --- declarations and defaults

TEST(NetfsPlugins, DeclarePveOptionsAndSecrets) {
  auto has = [](const PluginInfo& info, const std::string& key, PluginInfo::Option opt) {
    return std::find(info.options.begin(), info.options.end(), std::pair{key, opt}) != info.options.end();
  };
  auto has_key = [](const PluginInfo& info, const std::string& key) {
    return std::any_of(info.options.begin(), info.options.end(), [&](const auto& o) { return o.first == key; });
  };
  using O = PluginInfo::Option;
  auto nfs = plugins::make_nfs();
  EXPECT_TRUE(has(nfs->info(), "server", O::FixedRequired));
  EXPECT_TRUE(has(nfs->info(), "export", O::FixedRequired));
  EXPECT_TRUE(has(nfs->info(), "options", O::Optional));
  EXPECT_FALSE(has_key(nfs->info(), "shared"));  // shared by nature
  EXPECT_TRUE(nfs->info().shared);
  auto cifs = plugins::make_cifs();
  EXPECT_EQ(cifs->info().sensitive, std::vector<std::string>{"password"});
  EXPECT_TRUE(has(cifs->info(), "share", O::FixedRequired));
  EXPECT_TRUE(has(cifs->info(), "smbversion", O::Optional));
  auto ceph = plugins::make_cephfs();
  EXPECT_EQ(ceph->info().sensitive, std::vector<std::string>{"keyring"});
  EXPECT_TRUE(ceph->info().formats.empty());
  EXPECT_EQ(ceph->info().default_content, (ContentSet{"backup"}));
  EXPECT_FALSE(has_key(ceph->info(), "preallocation"));
  auto gluster = plugins::make_glusterfs();
  EXPECT_TRUE(has(gluster->info(), "volume", O::FixedRequired));
  EXPECT_TRUE(has(gluster->info(), "server2", O::Optional));
  EXPECT_TRUE(has(gluster->info(), "transport", O::Optional));
  EXPECT_FALSE(gluster->info().content.count("rootdir"));
}

TEST(NetfsPlugins, OnAddDefaultsThePathUnderTheMountRoot) {
  HostEnv host;
  host.mount_root = "/srv/mounts";
  for (auto make : {plugins::make_nfs, plugins::make_cifs, plugins::make_cephfs, plugins::make_glusterfs}) {
    auto plugin = make();
    auto def = make_def(plugin->info().type, {{"server", "10.0.0.5"}}, &host);
    plugin->on_add(def);
    EXPECT_EQ(def.str("path"), "/srv/mounts/store1") << plugin->info().type;
    def.props["path"] = "/elsewhere";
    plugin->on_add(def);
    EXPECT_EQ(def.str("path"), "/elsewhere");
  }
  auto def = make_def("nfs", Json::object());  // no host: PVE's /mnt/pve
  plugins::make_nfs()->on_add(def);
  EXPECT_EQ(def.str("path"), "/mnt/pve/store1");
}

// --- reachability

class Unreachable : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("pvx-netfs-" + std::to_string(::getpid()));
    host_.mount_root = root_;
    host_.connect_timeout = std::chrono::seconds(3);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  // Activating must fail with the "not online" message, well before the connect timeout.
  void expect_offline(const StoragePlugin& plugin, Json props) {
    auto def = make_def(plugin.info().type, std::move(props), &host_);
    plugin.on_add(def);
    auto start = std::chrono::steady_clock::now();
    try {
      plugin.activate(def);
      ADD_FAILURE() << plugin.info().type << ": activated without a server";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("storage 'store1' is not online"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("127.0.0.1:"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    // Nothing was mounted, so the storage reports inactive without touching the path.
    EXPECT_FALSE(plugin.status(def).active);
  }
  fs::path root_;
  HostEnv host_;
};

TEST_F(Unreachable, NfsFailsFast) {
  int port = closed_port();
  expect_offline(*plugins::make_nfs(),
                 {{"server", "127.0.0.1"}, {"export", "/srv"}, {"options", "port=" + std::to_string(port)}});
}

TEST_F(Unreachable, CifsFailsFast) {
  int port = closed_port();
  expect_offline(*plugins::make_cifs(),
                 {{"server", "127.0.0.1"}, {"share", "vm"}, {"options", "port=" + std::to_string(port)}});
}

TEST_F(Unreachable, CephfsFailsFast) {
  int port = closed_port();
  expect_offline(*plugins::make_cephfs(), {{"monhost", "127.0.0.1:" + std::to_string(port)}});
}

TEST_F(Unreachable, GlusterfsFailsFast) {
  std::string why;
  if (tcp_reachable({"127.0.0.1", 24007}, std::chrono::milliseconds(500), why))
    GTEST_SKIP() << "something listens on 127.0.0.1:24007";
  expect_offline(*plugins::make_glusterfs(), {{"server", "127.0.0.1"}, {"volume", "vmstore"}});
}

TEST(Reachability, ListeningPortAnswersClosedPortDoesNot) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  std::string why;
  EXPECT_TRUE(tcp_reachable({"127.0.0.1", ntohs(a.sin_port)}, std::chrono::seconds(2), why)) << why;
  ::close(s);
  EXPECT_FALSE(tcp_reachable({"127.0.0.1", closed_port()}, std::chrono::seconds(2), why));
  EXPECT_FALSE(why.empty());
}

TEST(Reachability, SilentHostGivesUpAtTheTimeout) {
  // TEST-NET-1 is never routed: the connect either fails at once or hangs until the timeout.
  auto start = std::chrono::steady_clock::now();
  std::string why;
  EXPECT_FALSE(tcp_reachable({"192.0.2.1", 2049}, std::chrono::milliseconds(300), why));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(Reachability, FirstAnsweringEndpointWins) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(s, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  HostEnv host;
  host.connect_timeout = std::chrono::seconds(2);
  auto def = make_def("glusterfs", Json::object(), &host);
  auto ep = require_online(def, {{"127.0.0.1", closed_port()}, {"[127.0.0.1]", ntohs(a.sin_port)}});
  EXPECT_EQ(ep.port, ntohs(a.sin_port));
  ::close(s);
}

// --- helpers

TEST(MountTable, DecodesEscapes) {
  auto mounts = parse_proc_mounts(
      "sysfs /sys sysfs rw,nosuid 0 0\n"
      "10.0.0.5:/srv/nfs /mnt/pve/nfs1 nfs4 rw,vers=4.2 0 0\n"
      "//fileserver/vm\\040images /mnt/pve/smb\\040store cifs rw,soft 0 0\n");
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[1].fstype, "nfs4");
  EXPECT_EQ(mounts[2].source, "//fileserver/vm images");
  EXPECT_EQ(mounts[2].target, "/mnt/pve/smb store");
  EXPECT_EQ(mounts[2].options, "rw,soft");
  EXPECT_TRUE(same_path("/mnt/pve/nfs1", "/mnt/pve/nfs1/"));
  EXPECT_FALSE(same_path("/mnt/pve/nfs1", "/mnt/pve/nfs"));
}

TEST(SecretFileTest, PrivateAndRemoved) {
  fs::path file, dir;
  {
    SecretFile secret("password=x\n");
    file = secret.path();
    dir = file.parent_path();
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    std::ifstream in(file);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(content, "password=x\n");
  }
  EXPECT_FALSE(fs::exists(file));
  EXPECT_FALSE(fs::exists(dir));
}

// --- scans

TEST(NfsScan, ParsesShowmount) {
  auto exports = scan::parse_showmount(read_data("showmount-exports.txt"));
  ASSERT_EQ(exports.size(), 4u);  // sorted by path, the header comment ignored
  EXPECT_EQ(exports[0].path, "/export/pve");
  EXPECT_EQ(exports[0].options, "pve1.example.com,pve2.example.com");
  EXPECT_EQ(exports[1].path, "/srv/backup");
  EXPECT_EQ(exports[1].options, "(everyone)");
  EXPECT_EQ(exports[2].path, "/srv/nfs/images");
  EXPECT_EQ(exports[2].options, "192.168.10.0/24,192.168.20.0/24");
  EXPECT_EQ(exports[3].options, "*");
  EXPECT_TRUE(scan::parse_showmount("Export list for nas:\n").empty());
  EXPECT_TRUE(scan::parse_showmount("").empty());
}

TEST(CifsScan, ParsesGrepableList) {
  auto shares = scan::parse_smbclient_list(read_data("smbclient-grepable.txt"));
  ASSERT_EQ(shares.size(), 3u);  // disks only, sorted
  EXPECT_EQ(shares[0].share, "backup");
  EXPECT_EQ(shares[0].description, "");
  EXPECT_EQ(shares[1].share, "public");
  EXPECT_EQ(shares[1].description, "Public files");
  EXPECT_EQ(shares[2].share, "vmstore");
  EXPECT_EQ(shares[2].description, "VM images | fast pool");
}

TEST(CifsScan, ParsesTableAndIgnoresErrors) {
  auto shares = scan::parse_smbclient_list(read_data("smbclient-table.txt"));
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_EQ(shares[0].share, "backup");
  EXPECT_EQ(shares[1].share, "public");
  EXPECT_EQ(shares[1].description, "Public files");
  EXPECT_TRUE(scan::parse_smbclient_list(read_data("smbclient-logon-failure.txt")).empty());
}

TEST(Scans, RefuseBadServerNames) {
  expect_param_error([] { scan::nfs("-h"); }, "server");
  expect_param_error([] { scan::cifs("a b", "", "", ""); }, "server");
}

}  // namespace
}  // namespace pvx::storage
