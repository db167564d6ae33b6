#include "base/process.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace pvx {
namespace {

TEST(Process, CapturesOutputAndPassesArgumentsLiterally) {
  auto r = run_command({"printf", "%s|", "a b", "$(id)", ";x"});
  EXPECT_EQ(r.out, "a b|$(id)|;x|");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(Process, FeedsStdin) {
  auto r = run_command({"cat"}, {.input = std::string(200000, 'x')});
  EXPECT_EQ(r.out.size(), 200000u);
}

TEST(Process, FailureNamesTheCommandAndItsMessage) {
  try {
    run_command({"sh", "-c", "echo 'disk is full' >&2; exit 3"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("disk is full"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("exit code 3"), std::string::npos) << e.what();
  }
  auto r = run_command({"sh", "-c", "exit 4"}, {.check = false});
  EXPECT_EQ(r.exit_code, 4);
}

TEST(Process, TimeoutKillsTheProcessGroup) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(run_command({"sh", "-c", "sleep 30 & sleep 30"}, {.timeout = std::chrono::milliseconds(300)}), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Process, MissingToolIsAClearError) {
  try {
    run_command({"pvx-no-such-tool"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not found"), std::string::npos);
  }
  EXPECT_TRUE(command_exists("sh"));
  EXPECT_FALSE(command_exists("pvx-no-such-tool"));
}

TEST(Process, QuotesForLogs) {
  EXPECT_EQ(command_text({"qemu-img", "create", "a b", "it's"}), "qemu-img create 'a b' 'it'\\''s'");
}

}  // namespace
}  // namespace pvx
