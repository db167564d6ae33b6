#include "config/datacenter_cfg.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace pvx::config {
namespace {

using schema::Json;

bool has_warning(const ParsedDatacenterConfig& c, std::string_view needle) {
  for (const auto& w : c.warnings) {
    if (w.find(needle) != std::string::npos) return true;
  }
  return false;
}

constexpr const char* kSample =
    "#Lab datacenter\n"
    "#contact%3A ops@example.com\n"
    "console: xtermjs\n"
    "crs: ha=static,ha-rebalance-on-start=1\n"
    "email_from: pve@example.com\n"
    "ha: shutdown_policy=migrate\n"
    "keyboard: en-us\n"
    "mac_prefix: 02:5A:10\n"
    "migration: secure,network=10.20.0.0/24\n"
    "next-id: lower=1000,upper=8999\n"
    "registered-tags: prod;staging\n"
    "tag-style: color-map=prod:c62828:ffffff;staging:f9a825,ordering=alphabetical,shape=circle\n"
    "user-tag-access: user-allow=list,user-allow-list=dev;test\n"
    "webauthn: id=pve.example.com,origin=https://pve.example.com:8006,rp=pve.example.com\n";

TEST(DatacenterCfgTest, ParsesIntoTheApiShape) {
  auto parsed = parse_datacenter_cfg(kSample);
  EXPECT_TRUE(parsed.warnings.empty()) << parsed.warnings.front();
  const Json& v = parsed.config.values;
  EXPECT_EQ(v["description"], "Lab datacenter\ncontact: ops@example.com\n");
  EXPECT_EQ(v["console"], "xtermjs");
  EXPECT_EQ(v["keyboard"], "en-us");
  EXPECT_EQ(v["mac_prefix"], "02:5A:10");
  EXPECT_EQ(v["migration"]["type"], "secure");
  EXPECT_EQ(v["migration"]["network"], "10.20.0.0/24");
  EXPECT_EQ(v["next-id"]["lower"], 1000);
  EXPECT_EQ(v["next-id"]["upper"], 8999);
  EXPECT_EQ(v["ha"]["shutdown_policy"], "migrate");
  EXPECT_EQ(v["crs"]["ha"], "static");
  EXPECT_EQ(v["registered-tags"], (Json{"prod", "staging"}));
  EXPECT_EQ(v["user-tag-access"]["user-allow"], "list");
  EXPECT_EQ(v["user-tag-access"]["user-allow-list"], (Json{"dev", "test"}));
  EXPECT_EQ(v["webauthn"]["origin"], "https://pve.example.com:8006");
  EXPECT_TRUE(parsed.config.unknown.empty());
}

TEST(DatacenterCfgTest, PrintsDescriptionFirstThenSortedKeys) {
  auto parsed = parse_datacenter_cfg(kSample);
  std::string expected = kSample;
  // The writer puts an empty line between the description and the keys.
  expected.insert(expected.find("console:"), "\n");
  EXPECT_EQ(print_datacenter_cfg(parsed.config), expected);
}

TEST(DatacenterCfgTest, RoundTrips) {
  auto first = parse_datacenter_cfg(kSample).config;
  auto text = print_datacenter_cfg(first);
  auto second = parse_datacenter_cfg(text);
  EXPECT_TRUE(second.warnings.empty());
  EXPECT_EQ(second.config, first);
  EXPECT_EQ(print_datacenter_cfg(second.config), text);
}

TEST(DatacenterCfgTest, DescriptionIsEncodedOnWrite) {
  DatacenterConfig c;
  c.values["description"] = "Web: 100% up\n\nMüller\n";
  c.values["max_workers"] = 4;
  auto text = print_datacenter_cfg(c);
  EXPECT_EQ(text, "#Web%3A 100%25 up\n#\n#M%C3%BCller\n\nmax_workers: 4\n");
  EXPECT_EQ(parse_datacenter_cfg(text).config, c);
}

TEST(DatacenterCfgTest, EmptyFile) {
  auto parsed = parse_datacenter_cfg("");
  EXPECT_TRUE(parsed.config.values.empty());
  EXPECT_TRUE(parsed.warnings.empty());
  EXPECT_EQ(print_datacenter_cfg(parsed.config), "\n");
}

TEST(DatacenterCfgTest, UnknownKeysAreKeptVerbatimAndWarned) {
  auto parsed = parse_datacenter_cfg("keyboard: de\nfuture-option: a=b, c\nzzz: 1\n");
  EXPECT_TRUE(has_warning(parsed, "'future-option'"));
  EXPECT_TRUE(has_warning(parsed, "'zzz'"));
  ASSERT_EQ(parsed.config.unknown.size(), 2u);
  EXPECT_EQ(parsed.config.unknown[0], (std::pair<std::string, std::string>{"future-option", "a=b, c"}));
  EXPECT_EQ(print_datacenter_cfg(parsed.config), "\nfuture-option: a=b, c\nkeyboard: de\nzzz: 1\n");
}

TEST(DatacenterCfgTest, BadValuesAreDroppedWithWarningsNamingTheKey) {
  auto parsed = parse_datacenter_cfg(
      "keyboard: klingon\n"
      "max_workers: 0\n"
      "migration: type=teleport\n"
      "http_proxy: ftp://nope\n"
      "language: de\n"
      "not a line\n");
  EXPECT_EQ(parsed.config.values, (Json{{"language", "de"}}));
  EXPECT_TRUE(has_warning(parsed, "parse error in 'datacenter.cfg' - 'keyboard'"));
  EXPECT_TRUE(has_warning(parsed, "'max_workers'"));
  EXPECT_TRUE(has_warning(parsed, "'migration'"));
  EXPECT_TRUE(has_warning(parsed, "'http_proxy'"));
  EXPECT_TRUE(has_warning(parsed, "ignore config line: not a line"));
}

TEST(DatacenterCfgTest, DeprecatedSpellingsAreUpgraded) {
  auto parsed = parse_datacenter_cfg("console: applet\nmigration_unsecure: 1\n");
  EXPECT_EQ(parsed.config.values["console"], "html5");
  EXPECT_EQ(parsed.config.values["migration"]["type"], "insecure");
  EXPECT_FALSE(parsed.config.values.contains("migration_unsecure"));
  EXPECT_EQ(print_datacenter_cfg(parsed.config), "\nconsole: html5\nmigration: insecure\n");

  auto both = parse_datacenter_cfg("migration: secure\nmigration_unsecure: 1\n");
  EXPECT_EQ(both.config.values["migration"]["type"], "secure");
  EXPECT_TRUE(has_warning(both, "migration_unsecure"));
}

TEST(DatacenterCfgTest, NextIdBoundsAreCheckedOnWrite) {
  DatacenterConfig c;
  c.values["next-id"] = Json{{"lower", 5000}, {"upper", 4000}};
  try {
    print_datacenter_cfg(c);
    FAIL() << "printed";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_TRUE(e.params().contains("next-id"));
  }
  c.values["next-id"] = Json{{"lower", 200}};
  EXPECT_EQ(print_datacenter_cfg(c), "\nnext-id: lower=200\n");
}

TEST(DatacenterCfgTest, SchemaDeclaresTheKeysForTheApi) {
  const auto& s = *datacenter_schema();
  EXPECT_EQ(s.type, schema::Type::Object);
  for (const char* k : {"keyboard", "language", "console", "http_proxy", "mac_prefix", "migration", "ha",
                        "max_workers", "email_from", "description", "tag-style", "bwlimit", "next-id", "crs",
                        "registered-tags", "user-tag-access", "webauthn", "u2f", "notify", "fencing"}) {
    const auto* p = s.property(k);
    ASSERT_NE(p, nullptr) << k;
    EXPECT_TRUE(p->optional) << k;
  }
  ASSERT_NE(s.property("migration")->format_object, nullptr);
  EXPECT_NE(s.property("migration")->format_object->property("network"), nullptr);
  ASSERT_NE(s.property("bwlimit")->format_object, nullptr);
  EXPECT_EQ(s.property("max_workers")->minimum, 1.0);
}

}  // namespace
}  // namespace pvx::config
