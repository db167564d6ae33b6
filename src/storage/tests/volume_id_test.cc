#include "storage/volume_id.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "storage/content.h"

namespace pvx::storage {
namespace {

TEST(VolumeId, ParsesStorageAndName) {
  auto v = VolumeId::parse("local:100/vm-100-disk-0.qcow2");
  EXPECT_EQ(v.storage, "local");
  EXPECT_EQ(v.volname, "100/vm-100-disk-0.qcow2");
  EXPECT_EQ(v.str(), "local:100/vm-100-disk-0.qcow2");
  EXPECT_EQ(VolumeId::parse("tank:vm-100-disk-0").volname, "vm-100-disk-0");
}

TEST(VolumeId, RefusesNamesThatLeaveTheStorage) {
  for (const char* bad : {"local:../etc/passwd", "local:iso/../../x", "local:/etc/passwd", "local:", ":iso/a.iso",
                          "local:iso//a.iso", "local:iso/./a.iso", "local:iso/a\nb.iso", "1bad:iso/a.iso",
                          "no-colon"}) {
    EXPECT_FALSE(VolumeId::try_parse(bad)) << bad;
  }
  try {
    VolumeId::parse("local:../x", "volid");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_TRUE(e.params().count("volid"));
  }
}

TEST(Content, ListsRoundTripInPveOrder) {
  auto c = parse_content_list("vztmpl,iso, images");
  EXPECT_EQ(print_content_list(c), "images,iso,vztmpl");
  EXPECT_TRUE(parse_content_list("none").empty());
  EXPECT_EQ(print_content_list({}), "none");
  EXPECT_TRUE(is_content_type("snippets"));
  EXPECT_FALSE(is_content_type("videos"));
}

}  // namespace
}  // namespace pvx::storage
