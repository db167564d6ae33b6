#include <gtest/gtest.h>

#include "cli/commands.h"

namespace pvx::cli {

TEST(Args, PositionalOptionsAndRepeats) {
  using namespace schema;
  Schema params = object({{"force", boolean()}, {"vmid", integer()}, {"command", array(string())}});
  auto p = parse_args({"100", "--force", "--vmid", "101", "--command", "a", "--command=b"}, &params);
  ASSERT_EQ(p.positional.size(), 1u);
  EXPECT_EQ(p.positional[0], "100");
  EXPECT_EQ(p.options["force"], "1");
  EXPECT_EQ(p.options["vmid"], "101");
  EXPECT_EQ(p.options["command"], nlohmann::json::array({"a", "b"}));
}

TEST(Args, GlobalOptionsAreTakenOut) {
  Args a = {"get", "/version", "--output-format", "json", "--data-dir=/tmp/x"};
  auto g = take_global_options(a);
  EXPECT_EQ(g.output_format, "json");
  EXPECT_EQ(g.data_dir, "/tmp/x");
  EXPECT_EQ(a, (Args{"get", "/version"}));
}

}  // namespace pvx::cli
