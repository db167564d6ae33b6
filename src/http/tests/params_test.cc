#include "http/params.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace pvx::http {
namespace {

using Json = nlohmann::json;

int error_status(std::string_view content_type, std::string_view body) {
  try {
    parse_body(content_type, body);
  } catch (const Error& e) {
    return e.status();
  }
  return 0;
}

TEST(ParseQuery, DecodesPairs) {
  Json p = parse_query("a=1&b=x%20y&c=a+b&empty=&flag");
  EXPECT_EQ(p, Json({{"a", "1"}, {"b", "x y"}, {"c", "a b"}, {"empty", ""}, {"flag", ""}}));
}

TEST(ParseQuery, SemicolonSeparatesAndRepeatedKeysBecomeArrays) {
  Json p = parse_query("a=1;c=2&c=3;c=4");
  EXPECT_EQ(p["a"], "1");
  EXPECT_EQ(p["c"], Json({"2", "3", "4"}));
}

TEST(ParseQuery, DropsCacheBusterAndEmptyKeys) {
  Json p = parse_query("_dc=1234567&=x&&node=pve1");
  EXPECT_EQ(p, Json({{"node", "pve1"}}));
}

TEST(ParseQuery, EmptyIsEmptyObject) {
  EXPECT_TRUE(parse_query("").is_object());
  EXPECT_TRUE(parse_query("").empty());
}

TEST(ParseQuery, DecodesKeysAndEncodedSeparators) {
  Json p = parse_query("net%30=virtio%2Cbridge%3Dvmbr0&x=a%26b");
  EXPECT_EQ(p["net0"], "virtio,bridge=vmbr0");
  EXPECT_EQ(p["x"], "a&b");
}

TEST(ParseBody, FormWithAndWithoutContentType) {
  EXPECT_EQ(parse_body("", "vmid=100&name=a+b"), Json({{"vmid", "100"}, {"name", "a b"}}));
  EXPECT_EQ(parse_body("application/x-www-form-urlencoded; charset=UTF-8", "command=ls&command=-l"),
            Json({{"command", {"ls", "-l"}}}));
  EXPECT_EQ(parse_body("Application/X-WWW-Form-Urlencoded", "a=1"), Json({{"a", "1"}}));
}

TEST(ParseBody, JsonObjectKeepsTypes) {
  Json p = parse_body("application/json;charset=UTF-8", R"({"vmid":100,"start":true,"name":"x"})");
  EXPECT_EQ(p["vmid"], 100);
  EXPECT_EQ(p["start"], true);
  EXPECT_EQ(p["name"], "x");
  EXPECT_TRUE(parse_body("application/json", "  ").empty());
}

TEST(ParseBody, JsonErrorsAre400) {
  EXPECT_EQ(error_status("application/json", "[1,2]"), 400);
  EXPECT_EQ(error_status("application/json", "\"s\""), 400);
  EXPECT_EQ(error_status("application/json", "{bad"), 400);
}

TEST(ParseBody, UnsupportedTypeIs506WithTypeInMessage) {
  try {
    parse_body("text/plain; charset=utf-8", "hello");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 506);
    EXPECT_STREQ(e.what(), "unsupported content type 'text/plain'");
  }
  EXPECT_EQ(error_status("application/xml", "<a/>"), 506);
}

TEST(ParseBody, MultipartFieldsAndFile) {
  std::string body =
      "preamble\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"content\"\r\n"
      "\r\n"
      "iso\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"filename\"; filename=\"my image.iso\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n"
      "line1\r\nline2\r\n--not-the-boundary\r\n"
      "--XyZ\r\n"
      "content-disposition: form-data; name=tag\r\n"
      "\r\n"
      "a\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"tag\"\r\n"
      "\r\n"
      "b\r\n"
      "--XyZ--\r\n";
  Json p = parse_body("multipart/form-data; boundary=XyZ", body);
  EXPECT_EQ(p["content"], "iso");
  EXPECT_EQ(p["filename"], "line1\r\nline2\r\n--not-the-boundary");
  EXPECT_EQ(p["filename.filename"], "my image.iso");
  EXPECT_EQ(p["tag"], Json({"a", "b"}));
  EXPECT_EQ(p.size(), 4u);
}

TEST(ParseBody, MultipartQuotedBoundaryAndEmptyField) {
  std::string body =
      "--a;b\r\n"
      "Content-Disposition: form-data; name=\"x\"\r\n"
      "\r\n"
      "\r\n"
      "--a;b--";
  Json p = parse_body("multipart/form-data; charset=utf-8; boundary=\"a;b\"", body);
  EXPECT_EQ(p, Json({{"x", ""}}));
}

TEST(ParseBody, MultipartErrorsAre400) {
  EXPECT_EQ(error_status("multipart/form-data", "--x\r\n\r\nv\r\n--x--"), 400);  // no boundary
  EXPECT_EQ(error_status("multipart/form-data; boundary=x", "no delimiter here"), 400);
  EXPECT_EQ(error_status("multipart/form-data; boundary=x",
                         "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"),
            400);
  EXPECT_EQ(error_status("multipart/form-data; boundary=x", "--x\r\nContent-Type: text/plain\r\n\r\nv\r\n--x--"),
            400);  // part without a name
}

}  // namespace
}  // namespace pvx::http
