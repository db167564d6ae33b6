#include "guest/snapshot_tree.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace pvx::guest {
namespace {

// Volumes of a section for the tests: the values of scsiN keys, up to the first comma.
std::vector<std::string> scsi_volumes(const ConfigSection& s) {
  std::vector<std::string> out;
  for (const auto& [k, v] : s.values) {
    if (k.starts_with("scsi") && k != "scsihw") out.push_back(v.substr(0, v.find(',')));
  }
  return out;
}

GuestConfig base_vm() {
  GuestConfig c;
  c.main.description = "web server";
  c.main.values = {{"memory", "1024"},
                   {"name", "web"},
                   {"scsi0", "local:100/vm-100-disk-0.qcow2,size=8G"},
                   {"unused0", "local:100/vm-100-disk-9.qcow2"}};
  return c;
}

// Takes a snapshot the way the VM code does: prepare, then commit.
void take(GuestConfig& c, const std::string& name, std::int64_t when) {
  snapshot_prepare(c, name, when, "snap " + name);
  snapshot_commit(c, name);
}

TEST(SnapshotTree, PrepareCopiesMainWithoutBookkeeping) {
  auto c = base_vm();
  c.main.values["lock"] = "snapshot";
  c.pending.values["memory"] = "2048";
  auto& s = snapshot_prepare(c, "first", 1700000000, std::string("before upgrade"));
  EXPECT_EQ(s.get_or("snapstate", ""), "prepare");
  EXPECT_EQ(s.get_or("snaptime", ""), "1700000000");
  EXPECT_EQ(s.description, "before upgrade");
  EXPECT_EQ(s.get_or("memory", ""), "1024");  // pending changes are not part of a snapshot
  EXPECT_FALSE(s.has("lock"));
  EXPECT_FALSE(s.has("unused0"));
  EXPECT_FALSE(s.has("parent"));
  EXPECT_FALSE(c.main.has("parent"));  // only after commit
  snapshot_commit(c, "first");
  EXPECT_FALSE(c.snapshots.at("first").has("snapstate"));
  EXPECT_EQ(c.main.get_or("parent", ""), "first");
}

TEST(SnapshotTree, ChainFollowsParents) {
  auto c = base_vm();
  take(c, "sa", 1);
  take(c, "sb", 2);
  take(c, "sc", 3);
  EXPECT_EQ(c.snapshots.at("sb").get_or("parent", ""), "sa");
  EXPECT_EQ(c.snapshots.at("sc").get_or("parent", ""), "sb");
  EXPECT_EQ(c.main.get_or("parent", ""), "sc");
  EXPECT_EQ(snapshot_ancestry(c, "sc"), (std::vector<std::string>{"sc", "sb", "sa"}));
  // The text form keeps it: parent lines in each section.
  auto again = parse_guest_config(print_guest_config(c));
  EXPECT_EQ(again.snapshots.at("sc").get_or("parent", ""), "sb");
  EXPECT_EQ(again.snapshots.at("sa").description, "snap sa");
}

TEST(SnapshotTree, DuplicateAndReservedNames) {
  auto c = base_vm();
  take(c, "sa", 1);
  EXPECT_THROW(snapshot_prepare(c, "sa", 2, std::nullopt), Error);
  EXPECT_THROW(check_new_snapshot_name("current"), Error);
  EXPECT_THROW(check_new_snapshot_name("PENDING"), Error);
  EXPECT_NO_THROW(check_new_snapshot_name("pending2"));
}

TEST(SnapshotTree, RemoveMiddleReparentsChildAndMain) {
  auto c = base_vm();
  take(c, "sa", 1);
  take(c, "sb", 2);
  take(c, "sc", 3);
  snapshot_remove(c, "sb", scsi_volumes);
  EXPECT_FALSE(c.snapshots.count("sb"));
  EXPECT_EQ(c.snapshots.at("sc").get_or("parent", ""), "sa");
  snapshot_remove(c, "sc", scsi_volumes);
  EXPECT_EQ(c.main.get_or("parent", ""), "sa");
  snapshot_remove(c, "sa", scsi_volumes);
  EXPECT_FALSE(c.main.has("parent"));
  EXPECT_TRUE(c.snapshots.empty());
  EXPECT_THROW(snapshot_remove(c, "sa", scsi_volumes), Error);
}

TEST(SnapshotTree, RemoveKeepsVolumesOnlyTheSnapshotUsedAsUnused) {
  auto c = base_vm();
  c.main.values["scsi1"] = "local:100/vm-100-disk-1.qcow2,size=4G";
  take(c, "sa", 1);
  c.main.values.erase("scsi1");  // detached after the snapshot, kept by it
  snapshot_remove(c, "sa", scsi_volumes);
  EXPECT_EQ(c.main.get_or("unused1", ""), "local:100/vm-100-disk-1.qcow2");
}

TEST(SnapshotTree, ApplyRestoresSnapshotKeepingDescriptionUnusedAndLock) {
  auto c = base_vm();
  take(c, "sa", 1);
  take(c, "sb", 2);
  c.main.values["memory"] = "4096";
  c.main.values["scsi1"] = "local:100/vm-100-disk-1.qcow2,size=4G";  // added after "sa"
  c.main.values["lock"] = "rollback";
  c.main.description = "now";
  c.pending.values["cores"] = "4";
  snapshot_apply(c, "sa", scsi_volumes);
  EXPECT_EQ(c.main.get_or("memory", ""), "1024");
  EXPECT_EQ(c.main.get_or("parent", ""), "sa");
  EXPECT_EQ(c.main.get_or("lock", ""), "rollback");
  EXPECT_EQ(c.main.description, "now");
  EXPECT_FALSE(c.main.has("scsi1"));
  EXPECT_FALSE(c.main.has("snaptime"));
  EXPECT_EQ(c.main.get_or("unused0", ""), "local:100/vm-100-disk-9.qcow2");
  EXPECT_EQ(c.main.get_or("unused1", ""), "local:100/vm-100-disk-1.qcow2");
  EXPECT_FALSE(c.has_pending());
  EXPECT_EQ(c.snapshots.size(), 2u);  // the tree stays
  EXPECT_THROW(snapshot_apply(c, "missing", scsi_volumes), Error);
}

TEST(SnapshotTree, TemplateFlag) {
  ConfigSection s;
  EXPECT_FALSE(is_template(s));
  s.values["template"] = "1";
  EXPECT_TRUE(is_template(s));
  s.values["template"] = "0";
  EXPECT_FALSE(is_template(s));
}

}  // namespace
}  // namespace pvx::guest
