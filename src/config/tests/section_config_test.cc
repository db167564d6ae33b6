#include "config/section_config.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace pvx::config {
namespace {

using schema::boolean;
using schema::integer;
using schema::Json;
using schema::string;

bool has_warning(const ParsedConfig& c, std::string_view needle) {
  for (const auto& w : c.warnings) {
    if (w.find(needle) != std::string::npos) return true;
  }
  return false;
}

// A cut-down storage.cfg: two types sharing some keys, as the storage plugins declare them.
SectionConfig storage_like() {
  auto common = [](std::vector<std::pair<std::string, schema::Schema>> extra) {
    std::vector<std::pair<std::string, schema::Schema>> keys{
        {"content", string("Allowed content types.").opt()},
        {"disable", boolean("Flag to disable the storage.").opt()},
        {"comment", string("Description.").opt()},
        {"nodes", string("Nodes where the storage is usable.").opt()},
        {"prune-backups", schema::property_string(
                              {{"keep-all", boolean().opt()}, {"keep-last", integer().min(0).opt()},
                               {"keep-daily", integer().min(0).opt()}})
                              .opt()},
    };
    for (auto& e : extra) keys.push_back(std::move(e));
    return schema::ref(schema::object(std::move(keys)));
  };
  return SectionConfig({
      {"dir",
       common({{"path", string("File system path.")},
               {"shared", boolean("Shared storage.").opt()},
               {"max-files", integer("Old backup limit.").min(0).opt()}}),
       "pve-storage-id"},
      {"nfs",
       common({{"server", string("Server address.")},
               {"export", string("NFS export path.")},
               {"path", string("Mount point.")},
               {"options", string("NFS mount options.").opt()}}),
       "pve-storage-id"},
      {"notify",
       schema::ref(schema::object({{"mailto", schema::array(string("Recipient."), "Recipients.").opt()},
                                   {"comment", string().opt()}})),
       "pve-configid"},
  });
}

constexpr const char* kSample =
    "# storage.cfg written by hand\n"
    "dir: local\n"
    "\tpath /var/lib/vz\n"
    "   # an indented comment inside a section does not end it\n"
    "\tcontent iso,vztmpl,backup\n"
    "\tshared 0\n"
    "\tmax-files 3   \n"
    "\n"
    "\n"
    "nfs: nas\n"
    "\texport /volume1/pve\n"
    "    server 198.51.100.40\n"
    "\tpath /mnt/pve/nas\n"
    "\tdisable\n"
    "\toptions vers=4.2,soft\n"
    "\tprune-backups keep-daily=7,keep-last=3\n"
    "\tcomment NAS in rack 2\n";

TEST(SectionConfigTest, ParsesTypedValuesInFileOrder) {
  auto sc = storage_like();
  auto cfg = sc.parse(kSample, "storage.cfg");
  EXPECT_TRUE(cfg.warnings.empty()) << cfg.warnings.front();
  ASSERT_EQ(cfg.sections.size(), 2u);
  const auto& local = cfg.sections[0];
  EXPECT_EQ(local.type, "dir");
  EXPECT_EQ(local.id, "local");
  EXPECT_EQ(local.values, (Json{{"path", "/var/lib/vz"}, {"content", "iso,vztmpl,backup"}, {"shared", 0}, {"max-files", 3}}));
  EXPECT_TRUE(local.values["max-files"].is_number_integer());
  const auto* nas = cfg.find("nas");
  ASSERT_NE(nas, nullptr);
  EXPECT_EQ(nas->values["disable"], 1);  // bare boolean key
  EXPECT_EQ(nas->values["server"], "198.51.100.40");
  EXPECT_EQ(nas->values["comment"], "NAS in rack 2");
  EXPECT_EQ(nas->values["prune-backups"], "keep-daily=7,keep-last=3");  // property strings stay text
  EXPECT_EQ(cfg.find("missing"), nullptr);
}

TEST(SectionConfigTest, PrintsInPveOrder) {
  auto sc = storage_like();
  auto cfg = sc.parse(kSample, "storage.cfg");
  EXPECT_EQ(sc.print(cfg),
            "dir: local\n"
            "\tpath /var/lib/vz\n"
            "\tcontent iso,vztmpl,backup\n"
            "\tmax-files 3\n"
            "\tshared 0\n"
            "\n"
            "nfs: nas\n"
            "\tcomment NAS in rack 2\n"
            "\tdisable\n"
            "\texport /volume1/pve\n"
            "\tpath /mnt/pve/nas\n"
            "\tserver 198.51.100.40\n"
            "\toptions vers=4.2,soft\n"
            "\tprune-backups keep-daily=7,keep-last=3\n"
            "\n");
}

TEST(SectionConfigTest, RoundTripsParsePrint) {
  auto sc = storage_like();
  auto first = sc.parse(kSample, "storage.cfg");
  auto text = sc.print(first);
  auto second = sc.parse(text, "storage.cfg");
  EXPECT_EQ(second.sections, first.sections);
  EXPECT_EQ(sc.print(second), text);

  // Built in code, not parsed: booleans given as JSON true print as 1 and read back as 1.
  ParsedConfig built;
  built.sections.push_back({"dir", "backup", Json{{"path", "/srv/backup"}, {"shared", 1}, {"nodes", "pve1,pve2"}}});
  built.sections.push_back({"notify", "ops", Json{{"mailto", {"a@example.com", "b@example.com"}}}});
  auto again = sc.parse(sc.print(built));
  EXPECT_TRUE(again.warnings.empty());
  EXPECT_EQ(again.sections, built.sections);
}

TEST(SectionConfigTest, ArrayKeysTakeOneLinePerElement) {
  auto sc = storage_like();
  auto cfg = sc.parse("notify: ops\n\tmailto a@example.com\n\tmailto b@example.com\n");
  ASSERT_EQ(cfg.sections.size(), 1u);
  EXPECT_EQ(cfg.sections[0].values["mailto"], (Json{"a@example.com", "b@example.com"}));
  EXPECT_EQ(sc.print(cfg), "notify: ops\n\tmailto a@example.com\n\tmailto b@example.com\n\n");
}

TEST(SectionConfigTest, UnknownTypeIsSkippedWithWarning) {
  auto sc = storage_like();
  auto cfg = sc.parse(
      "zfsfancy: tank\n\tpool tank\n\tpath /should/not/leak\n\ndir: local\n\tpath /var/lib/vz\n", "storage.cfg");
  ASSERT_EQ(cfg.sections.size(), 1u);
  EXPECT_EQ(cfg.sections[0].id, "local");
  EXPECT_EQ(cfg.sections[0].values["path"], "/var/lib/vz");
  EXPECT_TRUE(has_warning(cfg, "file storage.cfg line 1 (skip section 'tank'): unsupported type 'zfsfancy'"));
}

TEST(SectionConfigTest, UnknownKeysAndBadValuesAreSkippedWithWarningsNamingTheKey) {
  auto sc = storage_like();
  auto cfg = sc.parse(
      "dir: local\n"
      "\tpath /var/lib/vz\n"
      "\tcolour blue\n"
      "\tmax-files many\n"
      "\tshared maybe\n"
      "\tpath /again\n"
      "\tcontent\n",
      "storage.cfg");
  ASSERT_EQ(cfg.sections.size(), 1u);
  EXPECT_EQ(cfg.sections[0].values, (Json{{"path", "/var/lib/vz"}}));
  EXPECT_TRUE(has_warning(cfg, "line 3 (section 'local') - unable to parse value of 'colour': unexpected property"));
  EXPECT_TRUE(has_warning(cfg, "line 4 (section 'local') - unable to parse value of 'max-files'"));
  EXPECT_TRUE(has_warning(cfg, "unable to parse value of 'shared'"));
  EXPECT_TRUE(has_warning(cfg, "line 6 (section 'local') - unable to parse value of 'path': duplicate attribute"));
  EXPECT_TRUE(has_warning(cfg, "unable to parse value of 'content': got undefined value"));
  EXPECT_EQ(cfg.warnings.size(), 5u);
}

TEST(SectionConfigTest, SchemaConstraintsApplyWhenParsing) {
  auto sc = storage_like();
  auto cfg = sc.parse("dir: local\n\tpath /x\n\tmax-files -1\n");
  ASSERT_EQ(cfg.sections.size(), 1u);
  EXPECT_FALSE(cfg.sections[0].values.contains("max-files"));
  EXPECT_TRUE(has_warning(cfg, "'max-files'"));
}

TEST(SectionConfigTest, MissingRequiredKeyDropsTheSection) {
  auto sc = storage_like();
  auto cfg = sc.parse("nfs: nas\n\tserver 1.2.3.4\n\tpath /mnt\n\ndir: local\n\tpath /x\n");
  ASSERT_EQ(cfg.sections.size(), 1u);
  EXPECT_EQ(cfg.sections[0].id, "local");
  EXPECT_TRUE(has_warning(cfg, "(skip section 'nas'): missing value for required option 'export'"));
}

TEST(SectionConfigTest, InvalidSectionIdIsSkipped) {
  auto sc = storage_like();
  auto cfg = sc.parse("dir: 9bad!id\n\tpath /x\n\ndir: good\n\tpath /y\n");
  ASSERT_EQ(cfg.sections.size(), 1u);
  EXPECT_EQ(cfg.sections[0].id, "good");
  EXPECT_TRUE(has_warning(cfg, "(skip section '9bad!id')"));
}

TEST(SectionConfigTest, SectionsNeedAnEmptyLineBetweenThem) {
  auto sc = storage_like();
  // Without the blank line the second header is a bad line of the first section; its keys then
  // belong to the first section (so `path` is a duplicate there).
  auto cfg = sc.parse("dir: aa\n\tpath /a\ndir: bb\n\tpath /b\n");
  ASSERT_EQ(cfg.sections.size(), 1u);
  EXPECT_EQ(cfg.sections[0].values["path"], "/a");
  EXPECT_TRUE(has_warning(cfg, "(section 'aa') - ignore config line: dir: bb"));
  EXPECT_TRUE(has_warning(cfg, "duplicate attribute"));
}

TEST(SectionConfigTest, WhitespaceOnlyLineDoesNotEndASection) {
  auto sc = storage_like();
  auto cfg = sc.parse("dir: aa\n\tpath /a\n   \n\tcontent images\n");
  ASSERT_EQ(cfg.sections.size(), 1u);
  EXPECT_EQ(cfg.sections[0].values["content"], "images");
  EXPECT_TRUE(has_warning(cfg, "ignore config line"));
}

TEST(SectionConfigTest, StrayLinesOutsideSectionsAreWarned) {
  auto sc = storage_like();
  auto cfg = sc.parse("garbage here\n\ndir: aa\n\tpath /a\n");
  EXPECT_EQ(cfg.sections.size(), 1u);
  EXPECT_TRUE(has_warning(cfg, "line 1 - ignore config line: garbage here"));
}

TEST(SectionConfigTest, EmptyInputIsEmptyConfig) {
  auto sc = storage_like();
  auto cfg = sc.parse("");
  EXPECT_TRUE(cfg.sections.empty());
  EXPECT_TRUE(cfg.warnings.empty());
  EXPECT_EQ(sc.print(cfg), "");
}

TEST(SectionConfigTest, PrintRefusesUnknownTypesMissingKeysAndLineFeeds) {
  auto sc = storage_like();
  ParsedConfig c;
  c.sections.push_back({"bogus", "x", Json::object()});
  EXPECT_THROW(sc.print(c), Error);
  c.sections = {{"nfs", "n", Json{{"server", "s"}, {"path", "/p"}}}};
  EXPECT_THROW(sc.print(c), Error);
  c.sections = {{"dir", "d", Json{{"path", "/p\nmalicious: injected"}}}};
  EXPECT_THROW(sc.print(c), Error);
}

TEST(SectionConfigTest, ValidateSectionNamesEveryBadKey) {
  auto sc = storage_like();
  EXPECT_NO_THROW(sc.validate_section({"dir", "local", Json{{"path", "/x"}, {"shared", true}, {"max-files", 2}}}));
  try {
    sc.validate_section({"nfs", "nas", Json{{"server", "s"}, {"path", "/p"}, {"max-files", 2}, {"disable", "perhaps"}}});
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_TRUE(e.params().contains("export"));     // required, missing
    EXPECT_TRUE(e.params().contains("max-files"));  // not a key of nfs
    EXPECT_TRUE(e.params().contains("disable"));    // not a boolean
    EXPECT_EQ(e.params().size(), 3u);
  }
  try {
    sc.validate_section({"dir", "local", Json{{"path", "/x"}, {"max-files", -5}}});
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.params().size(), 1u);
    EXPECT_TRUE(e.params().contains("max-files"));
  }
  try {
    sc.validate_section({"dir", "local", Json{{"path", "/x\n"}}});
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(e.params().contains("path"));
  }
  EXPECT_THROW(sc.validate_section({"bogus", "x", Json::object()}), Error);
}

TEST(SectionConfigTest, DeclaringATypeTwiceIsALogicError) {
  auto keys = schema::ref(schema::object({{"path", string()}}));
  EXPECT_THROW(SectionConfig({{"dir", keys}, {"dir", keys}}), std::logic_error);
}

}  // namespace
}  // namespace pvx::config
