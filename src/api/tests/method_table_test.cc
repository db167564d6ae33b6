// Checks every declaration of the method table, so a bad declaration fails here and not at
// pvxd's start: unique paths, declared path parameters, handlers, and PVE-compatible names.
#include "api/method_table.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "api/router.h"
#include "api/schema_export.h"

namespace pvx::api {

TEST(MethodTable, EveryMethodIsComplete) {
  Router r;
  register_all_methods(r);
  auto all = r.all();
  EXPECT_GT(all.size(), 20u);
  for (const ApiMethod* m : all) {
    SCOPED_TRACE(std::string(verb_name(m->verb)) + " " + m->path);
    EXPECT_FALSE(m->name.empty());
    EXPECT_TRUE(m->parameters);
    EXPECT_EQ(m->parameters->type, schema::Type::Object);
    EXPECT_TRUE(m->returns);
    EXPECT_TRUE(static_cast<bool>(m->handler));
    if (!m->proxyto.empty()) {
      EXPECT_TRUE(m->parameters->property(m->proxyto));
    }
  }
}

TEST(MethodTable, DumpHasTheReferenceShape) {
  Router r;
  register_all_methods(r);
  auto dump = schema_dump(r);
  ASSERT_TRUE(dump.is_array());
  for (const auto& e : dump) {
    for (const char* key : {"path", "method", "name", "parameters", "returns", "permissions", "protected",
                            "proxyto", "allowtoken"}) {
      EXPECT_TRUE(e.contains(key)) << key << " missing in " << e["path"];
    }
  }
}

// Every declared method that PVE also has must match PVE's parameter names and types.
TEST(MethodTable, MatchesTheReferenceSchema) {
  std::ifstream in(PVX_REFERENCE_SCHEMA);
  if (!in) GTEST_SKIP() << "reference schema not found at " << PVX_REFERENCE_SCHEMA;
  auto ref = nlohmann::json::parse(in);
  std::map<std::string, nlohmann::json> by_key;
  for (const auto& e : ref) by_key[e["method"].get<std::string>() + " " + e["path"].get<std::string>()] = e;
  Router r;
  register_all_methods(r);
  for (const auto& ours : schema_dump(r)) {
    std::string key = ours["method"].get<std::string>() + " " + ours["path"].get<std::string>();
    auto it = by_key.find(key);
    if (it == by_key.end()) continue;  // pvx's own additions
    SCOPED_TRACE(key);
    const auto& rp = it->second["parameters"];
    const auto& op = ours["parameters"];
    for (auto p = rp.begin(); p != rp.end(); ++p) {
      // The dump writes `optional` as 1, or (a few realm-sync parameters) as "1".
      auto optional_of = [](const nlohmann::json& j) {
        auto it = j.find("optional");
        return it != j.end() && ((it->is_number() && *it == 1) || (it->is_string() && *it == "1"));
      };
      bool optional = optional_of(p.value());
      if (!op.contains(p.key())) {
        EXPECT_TRUE(optional) << "required parameter " << p.key() << " not declared";
        continue;
      }
      EXPECT_EQ(op[p.key()].value("type", ""), p.value().value("type", "")) << p.key();
      EXPECT_EQ(optional_of(op[p.key()]), optional) << p.key();
    }
    // Keys pvx keeps beyond the reference: the glusterfs storage type, which PVE 9 dropped.
    static const std::set<std::string> kPvxAdditions = {"server2", "transport", "volume"};
    const bool storage_config = ours["path"] == "/storage" || ours["path"] == "/storage/{storage}";
    for (auto p = op.begin(); p != op.end(); ++p) {
      if (storage_config && kPvxAdditions.count(p.key())) continue;
      EXPECT_TRUE(rp.contains(p.key())) << "parameter " << p.key() << " is not in the reference";
    }
    EXPECT_EQ(ours["allowtoken"], it->second["allowtoken"]);
    EXPECT_EQ(ours["proxyto"], it->second["proxyto"]);
  }
}

}  // namespace pvx::api
