#include "base/atomic_file.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "base/error.h"

namespace pvx {

TEST(AtomicFile, WritesAndReplaces) {
  char tmpl[] = "/tmp/pvx-base-XXXXXX";
  std::filesystem::path dir = ::mkdtemp(tmpl);
  auto f = dir / "x.conf";
  write_file_atomic(f, "one\n");
  EXPECT_EQ(read_file(f).value(), "one\n");
  write_file_atomic(f, "two\n");
  EXPECT_EQ(read_file(f).value(), "two\n");
  // No temporary is left behind.
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1);
  std::filesystem::remove_all(dir);
}

TEST(AtomicFile, MissingDirectoryIsAnError) {
  EXPECT_THROW(write_file_atomic("/nonexistent-dir-pvx/x", "a"), Error);
  EXPECT_FALSE(read_file("/nonexistent-dir-pvx/x").has_value());
}

}  // namespace pvx
