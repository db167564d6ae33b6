#include "tasks/upid.h"

#include <gtest/gtest.h>

namespace pvx::tasks {
namespace {

TEST(UpidTest, ParsesKnownString) {
  auto upid = Upid::parse("UPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:");
  ASSERT_TRUE(upid);
  EXPECT_EQ(upid->node, "pve1");
  EXPECT_EQ(upid->pid, 0xABCDu);
  EXPECT_EQ(upid->pstart, 123456u);
  EXPECT_EQ(upid->starttime, 0x65A1B2C3);
  EXPECT_EQ(upid->type, "qmstart");
  EXPECT_EQ(upid->id, "100");
  EXPECT_EQ(upid->user, "root@pam");
}

TEST(UpidTest, RoundTrips) {
  const char* known[] = {
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:",
      "UPID:node-2:00001F40:1A2B3C4D5:5F000000:vzdump::backup@pve!tok1:",
      "UPID:x:00000001:00000000:00000000:aptupdate::root@pam:",
  };
  for (const char* text : known) {
    auto upid = Upid::parse(text);
    ASSERT_TRUE(upid) << text;
    EXPECT_EQ(upid->str(), text);
  }
}

TEST(UpidTest, PrintsUppercaseZeroPadded) {
  Upid upid{.node = "pve", .pid = 0xab, .pstart = 0xc, .starttime = 0x1d, .type = "qmstop", .id = "101",
            .user = "a@pve"};
  EXPECT_EQ(upid.str(), "UPID:pve:000000AB:0000000C:0000001D:qmstop:101:a@pve:");
  EXPECT_EQ(Upid::parse(upid.str()), upid);
}

TEST(UpidTest, RejectsMalformed) {
  const char* bad[] = {
      "",
      "UPID:",
      // 8 fields (no id field)
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:root@pam:",
      // 10 fields
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:extra:",
      // missing trailing colon
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam",
      // lowercase hex
      "UPID:pve1:0000abcd:0001E240:65A1B2C3:qmstart:100:root@pam:",
      // non-hex
      "UPID:pve1:0000ABCG:0001E240:65A1B2C3:qmstart:100:root@pam:",
      // wrong widths
      "UPID:pve1:ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:",
      "UPID:pve1:0000ABCD:0001E240:065A1B2C3:qmstart:100:root@pam:",
      "UPID:pve1:0000ABCD:1234567890:65A1B2C3:qmstart:100:root@pam:",
      // colon inside a field makes a field too many
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qm:start:100:root@pam:",
      // whitespace or slash in a field
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qm start:100:root@pam:",
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:1/0:root@pam:",
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam\t:",
      // empty type or user, bad node
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3::100:root@pam:",
      "UPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:100::",
      "UPID::0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:",
      "UPID:-pve:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:",
      "UPID:pve_1:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:",
      // wrong prefix
      "upid:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:",
      "XUPID:pve1:0000ABCD:0001E240:65A1B2C3:qmstart:100:root@pam:",
  };
  for (const char* text : bad) EXPECT_FALSE(Upid::parse(text)) << text;
}

}  // namespace
}  // namespace pvx::tasks
