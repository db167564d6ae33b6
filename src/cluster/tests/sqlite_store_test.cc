#include "cluster/sqlite_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "base/error.h"
#include "cluster/tests/temp_dir.h"

namespace pvx::cluster {
namespace {

using testing::TempDir;

class SqliteStoreTest : public ::testing::Test {
 protected:
  TempDir dir_;
  SqliteStore store_{dir_.db(), "pve1"};
};

TEST_F(SqliteStoreTest, ReadMissingIsNullopt) {
  EXPECT_FALSE(store_.read("user.cfg"));
  EXPECT_EQ(store_.revision(), 0u);
}

TEST_F(SqliteStoreTest, WriteThenReadReturnsDataVersionAndMtime) {
  auto v = store_.write("storage.cfg", "dir: local\n\tpath /var/lib/vz\n");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 1u);
  auto e = store_.read("storage.cfg");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, "dir: local\n\tpath /var/lib/vz\n");
  EXPECT_EQ(e->version, 1u);
  EXPECT_GT(e->mtime, 1600000000);
  EXPECT_EQ(store_.revision(), 1u);
}

TEST_F(SqliteStoreTest, BinaryAndEmptyDataRoundTrip) {
  std::string bin("a\0b\xff\n", 5);
  store_.write("priv/key", bin);
  store_.write("empty", "");
  EXPECT_EQ(store_.read("priv/key")->data, bin);
  auto e = store_.read("empty");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->data, "");
}

TEST_F(SqliteStoreTest, VersionIsTheStoreRevisionOfTheLastWrite) {
  EXPECT_EQ(*store_.write("a", "1"), 1u);
  EXPECT_EQ(*store_.write("b", "1"), 2u);
  EXPECT_EQ(*store_.write("a", "2"), 3u);
  EXPECT_EQ(store_.read("a")->version, 3u);
  EXPECT_EQ(store_.read("b")->version, 2u);
  EXPECT_EQ(store_.revision(), 3u);
}

TEST_F(SqliteStoreTest, ExpectedZeroMeansCreateOnly) {
  ASSERT_TRUE(store_.write("nodes/pve1/qemu-server/100.conf", "memory: 512\n", 0));
  auto again = store_.write("nodes/pve1/qemu-server/100.conf", "memory: 1024\n", 0);
  EXPECT_FALSE(again);
  EXPECT_EQ(store_.read("nodes/pve1/qemu-server/100.conf")->data, "memory: 512\n");
  EXPECT_EQ(store_.revision(), 1u);  // a refused write does not consume a revision
}

TEST_F(SqliteStoreTest, CompareAndSwapMatchesAndMismatches) {
  auto v1 = *store_.write("user.cfg", "one");
  auto v2 = store_.write("user.cfg", "two", v1);
  ASSERT_TRUE(v2);
  EXPECT_GT(*v2, v1);
  // A writer still holding v1 loses and writes nothing.
  EXPECT_FALSE(store_.write("user.cfg", "stale", v1));
  auto e = store_.read("user.cfg");
  EXPECT_EQ(e->data, "two");
  EXPECT_EQ(e->version, *v2);
  // Expecting a version of a file that does not exist fails too.
  EXPECT_FALSE(store_.write("missing.cfg", "x", 5));
  EXPECT_FALSE(store_.read("missing.cfg"));
}

TEST_F(SqliteStoreTest, RemoveWithAndWithoutVersion) {
  auto v = *store_.write("a.cfg", "x");
  EXPECT_FALSE(store_.remove("nope.cfg"));
  EXPECT_FALSE(store_.remove("a.cfg", v + 1));
  EXPECT_TRUE(store_.read("a.cfg"));
  EXPECT_TRUE(store_.remove("a.cfg", v));
  EXPECT_FALSE(store_.read("a.cfg"));
  EXPECT_FALSE(store_.remove("a.cfg"));
  store_.write("b.cfg", "y");
  EXPECT_TRUE(store_.remove("b.cfg"));
  EXPECT_FALSE(store_.read("b.cfg"));
  // After removal the path can be created with expected 0 again.
  EXPECT_TRUE(store_.write("b.cfg", "z", 0));
}

TEST_F(SqliteStoreTest, MoveIsAtomicAndRefusesExistingTarget) {
  store_.write("nodes/pve1/qemu-server/100.conf", "cores: 2\n");
  store_.write("nodes/pve2/qemu-server/101.conf", "cores: 4\n");
  EXPECT_FALSE(store_.move("nodes/pve1/qemu-server/100.conf", "nodes/pve2/qemu-server/101.conf"));
  EXPECT_EQ(store_.read("nodes/pve2/qemu-server/101.conf")->data, "cores: 4\n");
  EXPECT_TRUE(store_.read("nodes/pve1/qemu-server/100.conf"));
  EXPECT_FALSE(store_.move("nodes/pve1/qemu-server/999.conf", "nodes/pve2/qemu-server/999.conf"));

  auto before = store_.revision();
  ASSERT_TRUE(store_.move("nodes/pve1/qemu-server/100.conf", "nodes/pve2/qemu-server/100.conf"));
  EXPECT_FALSE(store_.read("nodes/pve1/qemu-server/100.conf"));
  auto moved = store_.read("nodes/pve2/qemu-server/100.conf");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->data, "cores: 2\n");
  EXPECT_EQ(moved->version, before + 1);
  EXPECT_EQ(store_.revision(), before + 1);
}

TEST_F(SqliteStoreTest, ListIsSortedRecursiveAndRespectsDirectoryBoundaries) {
  for (const char* p : {"nodes/pve10/qemu-server/300.conf", "nodes/pve1/qemu-server/101.conf",
                        "nodes/pve1/qemu-server/100.conf", "nodes/pve1/lxc/200.conf", "nodes/pve1-x/a",
                        "storage.cfg", "nodes/pve1/qemu-server/sub/deep.conf"}) {
    store_.write(p, "x");
  }
  EXPECT_EQ(store_.list("nodes/pve1/qemu-server/"),
            (std::vector<std::string>{"nodes/pve1/qemu-server/100.conf", "nodes/pve1/qemu-server/101.conf",
                                      "nodes/pve1/qemu-server/sub/deep.conf"}));
  // Without the trailing slash it is still the directory "nodes/pve1", not a string prefix.
  EXPECT_EQ(store_.list("nodes/pve1"),
            (std::vector<std::string>{"nodes/pve1/lxc/200.conf", "nodes/pve1/qemu-server/100.conf",
                                      "nodes/pve1/qemu-server/101.conf", "nodes/pve1/qemu-server/sub/deep.conf"}));
  auto all = store_.list("");
  ASSERT_EQ(all.size(), 7u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(all.back(), "storage.cfg");
  EXPECT_TRUE(store_.list("nodes/pve2/").empty());
}

TEST_F(SqliteStoreTest, PathsAreNormalised) {
  store_.write("/nodes//pve1/./config", "x");
  EXPECT_TRUE(store_.read("nodes/pve1/config"));
  EXPECT_EQ(store_.list("/nodes/"), std::vector<std::string>{"nodes/pve1/config"});
}

TEST_F(SqliteStoreTest, BadPathsAreRefusedWith400) {
  for (const char* bad : {"../etc/passwd", "nodes/../../x", "", "/", "a/\n/b"}) {
    try {
      store_.write(bad, "x");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 400) << bad;
    }
  }
  EXPECT_THROW(store_.read("a/../b"), Error);
  EXPECT_THROW(store_.list("a/.."), Error);
  EXPECT_EQ(store_.revision(), 0u);
}

TEST_F(SqliteStoreTest, DataSurvivesReopen) {
  store_.write("a", "1");
  store_.write("b", "2");
  store_.remove("a");
  SqliteStore reopened(dir_.db(), "pve1");
  EXPECT_FALSE(reopened.read("a"));
  EXPECT_EQ(reopened.read("b")->data, "2");
  EXPECT_EQ(reopened.revision(), 3u);
  EXPECT_EQ(*reopened.write("c", "3"), 4u);
}

TEST_F(SqliteStoreTest, DigestIsSha1HexOfData) {
  FileEntry e;
  e.data = "abc";
  EXPECT_EQ(e.digest(), "a9993e364706816aba3e25717850c26c9cd0d89d");
  e.data = "";
  EXPECT_EQ(e.digest(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST_F(SqliteStoreTest, MembersIsTheNodeNameAndQuorate) {
  EXPECT_EQ(store_.members(), std::vector<std::string>{"pve1"});
  EXPECT_TRUE(store_.quorate());
}

TEST_F(SqliteStoreTest, ConcurrentCasIncrementsAreExact) {
  store_.write("counter", "0");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this] {
      for (int i = 0; i < kPerThread; ++i) {
        for (;;) {
          auto e = store_.read("counter");
          int n = std::stoi(e->data);
          if (store_.write("counter", std::to_string(n + 1), e->version)) break;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_.read("counter")->data, std::to_string(kThreads * kPerThread));
}

}  // namespace
}  // namespace pvx::cluster
