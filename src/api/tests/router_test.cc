#include "api/router.h"

#include <gtest/gtest.h>

namespace pvx::api {
namespace {

using namespace schema;

ApiMethod method(Verb verb, std::string path, std::vector<std::pair<std::string, Schema>> params = {}) {
  return ApiMethod{.name = "m", .verb = verb, .path = std::move(path), .parameters = ref(object(std::move(params))),
                   .handler = [](RequestContext&) { return Json(nullptr); }};
}

TEST(Router, FindsLiteralAndParameterSegments) {
  Router r;
  r.add(method(Verb::Get, "/nodes", {}));
  r.add(method(Verb::Get, "/nodes/{node}/tasks", {{"node", std_opt::node()}}));
  r.add(method(Verb::Get, "/nodes/{node}/tasks/{upid}", {{"node", std_opt::node()}, {"upid", std_opt::upid()}}));
  r.add(method(Verb::Delete, "/nodes/{node}/tasks/{upid}", {{"node", std_opt::node()}, {"upid", std_opt::upid()}}));

  auto m = r.find(Verb::Get, "/nodes/pve1/tasks/UPID:x");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method->path, "/nodes/{node}/tasks/{upid}");
  EXPECT_EQ(m->path_params.at("node"), "pve1");
  EXPECT_EQ(m->path_params.at("upid"), "UPID:x");
  EXPECT_TRUE(r.find(Verb::Get, "/nodes/"));
  EXPECT_FALSE(r.find(Verb::Post, "/nodes"));
  EXPECT_FALSE(r.find(Verb::Get, "/nodes/pve1/unknown"));
  EXPECT_EQ(r.verbs_at("/nodes/pve1/tasks/x").size(), 2u);
  EXPECT_EQ(r.children("/nodes/{node}"), std::vector<std::string>{"tasks"});
}

TEST(Router, TrailingVolumeTakesTheRestOfThePath) {
  // Clients send volume ids unescaped: .../content/local:iso/debian.iso
  Router r;
  r.add(method(Verb::Get, "/s/{storage}/content/{volume}", {{"storage", string()}, {"volume", string()}}));
  r.add(method(Verb::Get, "/n/{node}/x", {{"node", string()}}));
  auto m = r.find(Verb::Get, "/s/local/content/local:iso/debian.iso");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->path_params.at("volume"), "local:iso/debian.iso");
  EXPECT_EQ(r.find(Verb::Get, "/s/local/content/local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2")
                ->path_params.at("volume"),
            "local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2");
  EXPECT_FALSE(r.find(Verb::Get, "/n/a/b/x"));  // other parameters stay one segment
}

TEST(Router, RefusesBadDeclarations) {
  Router r;
  r.add(method(Verb::Get, "/a", {}));
  EXPECT_THROW(r.add(method(Verb::Get, "/a", {})), std::logic_error);
  EXPECT_THROW(r.add(method(Verb::Get, "/b/{x}", {})), std::logic_error);  // {x} not declared
  r.add(method(Verb::Get, "/c/{x}", {{"x", string()}}));
  EXPECT_THROW(r.add(method(Verb::Put, "/c/{y}", {{"y", string()}})), std::logic_error);
}

TEST(Router, AllIsSortedByPathThenVerb) {
  Router r;
  r.add(method(Verb::Post, "/b", {}));
  r.add(method(Verb::Get, "/b", {}));
  r.add(method(Verb::Get, "/a", {}));
  auto all = r.all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]->path, "/a");
  EXPECT_EQ(all[1]->verb, Verb::Get);
  EXPECT_EQ(all[2]->verb, Verb::Post);
}

}  // namespace
}  // namespace pvx::api
