#include "cli/format.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace pvx::cli {

TEST(Format, ObjectsBecomeKeyValueTables) {
  auto text = render({{"release", "9.1"}, {"version", "9.1.3"}}, nullptr, OutputFormat::Text);
  EXPECT_NE(text.find("│ key     │ value │"), std::string::npos) << text;
  EXPECT_NE(text.find("│ release │ 9.1   │"), std::string::npos) << text;
  EXPECT_TRUE(text.starts_with("┌"));
}

TEST(Format, ListsUseDeclaredColumnOrder) {
  using namespace schema;
  Schema returns = array(object({{"node", string()}, {"status", string()}}));
  nlohmann::json rows = {{{"status", "online"}, {"node", "pve1"}, {"zz", 1}}};
  auto text = render(rows, &returns, OutputFormat::Text);
  auto header = text.substr(text.find('\n') + 1);
  header = header.substr(0, header.find('\n'));
  EXPECT_LT(header.find("node"), header.find("status"));
  EXPECT_LT(header.find("status"), header.find("zz"));
}

TEST(Format, ScalarsAndNull) {
  EXPECT_EQ(render("UPID:x", nullptr, OutputFormat::Text), "UPID:x\n");
  EXPECT_EQ(render(nullptr, nullptr, OutputFormat::Text), "");
  EXPECT_EQ(render(nlohmann::json::array(), nullptr, OutputFormat::Text), "");
}

TEST(Format, JsonAndYaml) {
  nlohmann::json v = {{"a", 1}, {"b", {"x", "y: z"}}};
  EXPECT_EQ(render(v, nullptr, OutputFormat::Json), "{\"a\":1,\"b\":[\"x\",\"y: z\"]}\n");
  EXPECT_EQ(to_yaml(v), "---\na: 1\nb:\n  - x\n  - \"y: z\"\n");
  EXPECT_EQ(to_yaml(nlohmann::json::array({{{"k", "yes"}}})), "---\n- k: \"yes\"\n");
}

TEST(Format, UnknownOutputFormatNamesTheParameter) {
  try {
    parse_output_format("xml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_TRUE(e.params().count("output-format"));
  }
}

}  // namespace pvx::cli
