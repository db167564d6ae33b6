#include "api/permission.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/permission_check.h"

namespace pvx::api {

TEST(Permission, JsonMatchesPveShapes) {
  EXPECT_EQ(world().to_json(), nlohmann::json::parse(R"({"user":"world"})"));
  EXPECT_EQ(all().to_json(), nlohmann::json::parse(R"({"user":"all"})"));
  EXPECT_EQ(perm("/vms/{vmid}", {"VM.PowerMgmt"}).to_json(),
            nlohmann::json::parse(R"({"check":["perm","/vms/{vmid}",["VM.PowerMgmt"]]})"));
  EXPECT_EQ(perm("/", {"Sys.Audit", "Sys.Modify"}, true).to_json(),
            nlohmann::json::parse(R"({"check":["perm","/",["Sys.Audit","Sys.Modify"],"any",1]})"));
  EXPECT_EQ(any_of({userid_self(), perm("/access", {"User.Modify"})}).to_json(),
            nlohmann::json::parse(R"({"check":["or",["userid-param","self"],["perm","/access",["User.Modify"]]]})"));
  auto described = all().describe("filtered");
  EXPECT_EQ(described.to_json()["description"], "filtered");
}

TEST(Permission, ExpandsPathTemplates) {
  nlohmann::json params = {{"vmid", 100}, {"node", "pve1"}};
  EXPECT_EQ(expand_path("/vms/{vmid}", params), "/vms/100");
  EXPECT_EQ(expand_path("/nodes/{node}", params), "/nodes/pve1");
  EXPECT_EQ(expand_path("/", params), "/");
}

}  // namespace pvx::api
