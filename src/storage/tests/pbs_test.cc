// pbs: proxmox-backup-client argv, environment and JSON parsing (constructed from the
// documented output of the 3.x client: it is not installed here), backup volume names, the
// datastore scan parser, and the clear failure when the client is missing.
#include <gtest/gtest.h>

#include <fstream>

#include "base/error.h"
#include "base/process.h"
#include "storage/plugins/pbs_commands.h"
#include "storage/plugins/plugins.h"
#include "storage/scan.h"

namespace pvx::storage {
namespace {

using Argv = std::vector<std::string>;

std::string pbs_data(const std::string& name) {
  std::ifstream in(std::string(PVX_STORAGE_TESTDATA) + "/pbs/" + name);
  EXPECT_TRUE(in) << name;
  std::string line, out;
  while (std::getline(in, line)) {
    if (!line.starts_with("#")) out += line + "\n";
  }
  return out;
}

StorageDef pbs_def(Json props) {
  StorageDef def;
  def.id = "backup1";
  def.type = "pbs";
  def.props = std::move(props);
  return def;
}

TEST(PbsCommands, RepositoryArgvAndEnvironment) {
  auto def = pbs_def({{"server", "pbs.example.com"}, {"datastore", "store1"}, {"username", "backup@pbs!pve"},
                      {"port", 8008}, {"namespace", "site/a"}, {"fingerprint", "AA:BB"}});
  def.secrets["password"] = "s3cret";
  auto r = pbs::remote_of(def);
  EXPECT_EQ(pbs::repository(r), "backup@pbs!pve@pbs.example.com:8008:store1");
  EXPECT_EQ(pbs::client_argv(r, {"snapshot", "list"}, true),
            (Argv{"proxmox-backup-client", "snapshot", "list", "--output-format=json", "--repository",
                  "backup@pbs!pve@pbs.example.com:8008:store1", "--ns", "site/a"}));
  EXPECT_EQ(pbs::client_argv(r, {"status"}, true),
            (Argv{"proxmox-backup-client", "status", "--output-format=json", "--repository",
                  "backup@pbs!pve@pbs.example.com:8008:store1"}));
  auto env = pbs::client_env(r);
  EXPECT_NE(std::find(env.begin(), env.end(), "PBS_PASSWORD=s3cret"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "PBS_FINGERPRINT=AA:BB"), env.end());
  for (const auto& a : pbs::client_argv(r, {"snapshot", "list"}, true)) EXPECT_EQ(a.find("s3cret"), std::string::npos);
  auto v6 = pbs::remote_of(pbs_def({{"server", "fd00::1"}, {"datastore", "s"}}));
  EXPECT_EQ(pbs::repository(v6), "root@pam@[fd00::1]:s");
  EXPECT_THROW(pbs::remote_of(pbs_def({{"datastore", "s"}})), Error);
}

TEST(PbsCommands, VolumeNames) {
  auto s = pbs::parse_volname("backup/vm/100/2023-11-14T22:13:20Z");
  EXPECT_EQ(s.type, "vm");
  EXPECT_EQ(s.id, "100");
  EXPECT_EQ(s.time, 1700000000);
  EXPECT_EQ(pbs::snapshot_path(s), "vm/100/2023-11-14T22:13:20Z");
  EXPECT_EQ(pbs::format_time(0), "1970-01-01T00:00:00Z");
  for (const char* bad : {"backup/vm/100/2023-11-14T22:13:20", "vm/100/2023-11-14T22:13:20Z",
                          "backup/vm/1 0/2023-11-14T22:13:20Z", "backup/vm/100/2023-13-14T22:13:20Z",
                          "backup/vm/a/b/2023-11-14T22:13:20Z"}) {
    EXPECT_THROW(pbs::parse_volname(bad), Error) << bad;
  }
  auto plugin = plugins::make_pbs();
  auto def = pbs_def({{"server", "pbs"}, {"datastore", "store1"}, {"namespace", "a/b"}});
  auto v = plugin->parse_volname(def, "backup/ct/101/2023-11-15T22:13:20Z");
  EXPECT_EQ(v.vtype, "backup");
  EXPECT_EQ(v.vmid, 101);
  EXPECT_EQ(v.format, "pbs-ct");
  EXPECT_EQ(v.name, "ct/101/2023-11-15T22:13:20Z");
  EXPECT_EQ(plugin->parse_volname(def, "backup/host/pve1/2023-11-15T22:13:20Z").vmid, 0);
  EXPECT_EQ(plugin->path(def, "backup/ct/101/2023-11-15T22:13:20Z"),
            "pbs://root@pam@pbs:store1/ct/101/2023-11-15T22:13:20Z?ns=a%2fb");
}

TEST(PbsCommands, SnapshotListStatusFilesNotes) {
  auto vols = pbs::parse_snapshot_list(pbs_data("snapshot_list.json"), "backup1", 0);
  ASSERT_EQ(vols.size(), 3u);  // the host backup is no guest backup
  EXPECT_EQ(vols[0].volid, "backup1:backup/ct/101/2023-11-15T22:13:20Z");
  EXPECT_EQ(vols[0].format, "pbs-ct");
  EXPECT_TRUE(vols[0].is_protected);
  EXPECT_EQ(vols[1].volid, "backup1:backup/vm/100/2023-11-14T22:13:20Z");
  EXPECT_EQ(vols[1].notes, "before upgrade");
  EXPECT_EQ(vols[1].size, 34359738368);
  EXPECT_EQ(vols[1].ctime, 1700000000);
  EXPECT_EQ(vols[1].content, "backup");
  EXPECT_EQ(vols[2].size, 1);  // unknown size, as PVE reports it
  EXPECT_EQ(pbs::parse_snapshot_list(pbs_data("snapshot_list.json"), "backup1", 100).size(), 2u);
  auto st = pbs::parse_status(pbs_data("status.json"));
  EXPECT_EQ(st.total, 1000000000000);
  EXPECT_EQ(st.used, 250000000000);
  EXPECT_EQ(st.avail, 750000000000);
  EXPECT_TRUE(st.active);
  EXPECT_EQ(pbs::parse_files_size(pbs_data("files.json")), 437 + 563 + 34359738368);
  EXPECT_EQ(pbs::parse_notes("\"line one\\nline two\"\n"), "line one\nline two");
  EXPECT_EQ(pbs::parse_notes("plain text\n"), "plain text");
  EXPECT_THROW(pbs::parse_snapshot_list("not json", "b", 0), Error);
}

TEST(PbsScan, Datastores) {
  auto stores = scan::parse_pbs_datastores(pbs_data("datastores.json"));
  ASSERT_EQ(stores.size(), 2u);
  EXPECT_EQ(stores[0].store, "store1");
  EXPECT_EQ(stores[0].comment, "main datastore");
  EXPECT_EQ(stores[1].store, "offsite");
  EXPECT_TRUE(scan::parse_pbs_datastores("[]").empty());
  EXPECT_THROW(scan::parse_pbs_datastores("<html>"), Error);
  EXPECT_THROW(scan::pbs("bad host", "root@pam", "x", "", 8007), Error);
  EXPECT_THROW(scan::pbs("pbs", "root@pam", "x", "", 70000), Error);
}

TEST(PbsPlugin, CapabilitiesAndMissingClient) {
  auto plugin = plugins::make_pbs();
  const auto& info = plugin->info();
  EXPECT_EQ(info.content, ContentSet{"backup"});
  EXPECT_TRUE(info.formats.empty());
  EXPECT_EQ(info.sensitive, (std::vector<std::string>{"encryption-key", "master-pubkey", "password"}));
  auto def = pbs_def({{"server", "127.0.0.1"}, {"datastore", "store1"}});
  EXPECT_FALSE(plugin->has_feature(def, Feature::Snapshot, "backup/vm/1/2023-11-14T22:13:20Z"));
  EXPECT_THROW(plugin->alloc_image(def, 1, "raw", "", 1024), Error);
  if (command_exists("proxmox-backup-client")) GTEST_SKIP() << "proxmox-backup-client is installed";
  for (auto op : {+[](const StoragePlugin& p, const StorageDef& d) { p.activate(d); },
                  +[](const StoragePlugin& p, const StorageDef& d) { p.list_volumes(d, {}, 0); },
                  +[](const StoragePlugin& p, const StorageDef& d) {
                    p.free_image(d, "backup/vm/1/2023-11-14T22:13:20Z");
                  }}) {
    try {
      op(*plugin, def);
      ADD_FAILURE() << "operation succeeded without the client";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("proxmox-backup-client"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(plugin->status(def).active);
}

}  // namespace
}  // namespace pvx::storage
