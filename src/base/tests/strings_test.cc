#include "base/strings.h"

#include <gtest/gtest.h>

namespace pvx {

TEST(Strings, UrlDecodeHandlesPercentAndPlus) {
  EXPECT_EQ(url_decode("root%40pam"), "root@pam");
  EXPECT_EQ(url_decode("a+b"), "a b");
  EXPECT_EQ(url_decode("a+b", false), "a+b");
  EXPECT_EQ(url_decode("100%"), "100%");
  EXPECT_EQ(url_decode("%zz"), "%zz");
}

TEST(Strings, UrlEncodeRoundTrips) {
  std::string raw = "PVE:root@pam:65A1B2C3::abc+def/ghi==";
  EXPECT_EQ(url_decode(url_encode(raw)), raw);
}

TEST(Strings, SplitAnyDropsEmptyPieces) {
  auto v = split_any("mp0 mp1,,mp2;", " ,;");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[2], "mp2");
}

TEST(Strings, Base64RoundTrips) {
  for (std::string s : {std::string("a"), std::string("ab"), std::string("abc"), std::string("abcd"),
                        std::string("\0\1\2", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("hello"), "aGVsbG8=");
}

TEST(Strings, HexUpperPads) {
  EXPECT_EQ(hex_upper(0x1a2b, 8), "00001A2B");
  EXPECT_EQ(hex_upper(0x123456789, 8), "123456789");
}

}  // namespace pvx

TEST(Strings, ToInt) {
  EXPECT_EQ(pvx::to_int("42"), 42);
  EXPECT_EQ(pvx::to_int("-7"), -7);
  for (const char* bad : {"", "+1", " 1", "1 ", "1a", "99999999999"}) EXPECT_FALSE(pvx::to_int(bad).has_value()) << bad;
}
