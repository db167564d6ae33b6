#include "storage/image_dir_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;

namespace pvx::storage {
namespace {

class ImageDirCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pvx-cache-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    if (!ImageDirCache::cacheable(dir_)) GTEST_SKIP() << dir_ << " is not on a local filesystem";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<VolumeInfo> list() {
    return cache_.get("store", dir_, [&] {
      ++scans_;
      std::vector<VolumeInfo> out;
      for (const auto& e : fs::directory_iterator(dir_)) out.push_back(VolumeInfo{.volid = e.path().filename().string()});
      return out;
    });
  }

  fs::path dir_;
  ImageDirCache cache_;
  int scans_ = 0;
};

TEST_F(ImageDirCacheTest, ScansOnlyAfterAChange) {
  std::ofstream(dir_ / "a") << "1";
  EXPECT_EQ(list().size(), 1u);
  EXPECT_EQ(list().size(), 1u);
  EXPECT_EQ(scans_, 1);

  std::ofstream(dir_ / "b") << "2";  // created: seen by the very next listing
  EXPECT_EQ(list().size(), 2u);
  EXPECT_EQ(scans_, 2);

  { std::ofstream(dir_ / "a", std::ios::app) << "more"; }  // written to: sizes change
  list();
  EXPECT_EQ(scans_, 3);
  list();
  EXPECT_EQ(scans_, 3);

  fs::remove(dir_ / "b");
  EXPECT_EQ(list().size(), 1u);
  EXPECT_EQ(scans_, 4);
}

TEST_F(ImageDirCacheTest, ForgetsRemovedDirectories) {
  list();
  EXPECT_EQ(cache_.size(), 1u);
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  std::ofstream(dir_ / "new") << "x";
  EXPECT_EQ(list().size(), 1u);  // the new directory is scanned, not the old entries reused
  EXPECT_EQ(cache_.size(), 1u);
}

TEST(ImageDirCacheKinds, OnlyLocalFilesystems) {
  EXPECT_FALSE(ImageDirCache::cacheable("/proc"));
  EXPECT_FALSE(ImageDirCache::cacheable("/nonexistent-path"));
}

}  // namespace
}  // namespace pvx::storage
