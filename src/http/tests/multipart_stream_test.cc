#include "http/multipart_stream.h"

#include <gtest/gtest.h>

#include <random>

#include "base/error.h"

namespace pvx::http {
namespace {

struct Collected {
  std::vector<PartHead> heads;
  std::vector<std::string> bodies;
  int ended = 0;
};

Collected parse_in_pieces(const std::string& body, std::size_t piece, const std::string& ct) {
  Collected c;
  MultipartStream m(ct, {[&](const PartHead& h) {
                           c.heads.push_back(h);
                           c.bodies.emplace_back();
                         },
                         [&](std::string_view d) { c.bodies.back().append(d); }, [&] { ++c.ended; }});
  for (std::size_t i = 0; i < body.size(); i += piece) m.feed(std::string_view(body).substr(i, piece));
  m.finish();
  return c;
}

const std::string kType = "multipart/form-data; boundary=----xyz";

std::string sample(const std::string& file) {
  return "------xyz\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\niso\r\n"
         "------xyz\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"a;b \\\"c\\\".iso\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" +
         file + "\r\n------xyz--\r\n";
}

TEST(MultipartStream, ParsesFieldsAndFilesAtAnySplit) {
  std::string file;
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i) file.push_back(static_cast<char>(rng()));
  file += "\r\n------xy";  // looks almost like a boundary
  for (std::size_t piece : {1u, 2u, 7u, 13u, 4096u, 1000000u}) {
    auto c = parse_in_pieces(sample(file), piece, kType);
    ASSERT_EQ(c.heads.size(), 2u) << piece;
    EXPECT_EQ(c.heads[0].name, "content");
    EXPECT_FALSE(c.heads[0].is_file);
    EXPECT_EQ(c.bodies[0], "iso");
    EXPECT_EQ(c.heads[1].name, "filename");
    EXPECT_TRUE(c.heads[1].is_file);
    EXPECT_EQ(c.heads[1].filename, "a;b \"c\".iso");
    EXPECT_EQ(c.bodies[1], file) << piece;
    EXPECT_EQ(c.ended, 2);
  }
}

TEST(MultipartStream, RefusesTruncatedAndMalformedBodies) {
  std::string full = sample("data");
  EXPECT_THROW(parse_in_pieces(full.substr(0, full.size() - 10), 5, kType), Error);
  EXPECT_THROW(MultipartStream("multipart/form-data", {}), Error);
  EXPECT_THROW(MultipartStream("application/json", {}), Error);
  EXPECT_THROW(parse_in_pieces("------xyz\r\nContent-Type: text/plain\r\n\r\nx\r\n------xyz--\r\n", 3, kType), Error);
}

}  // namespace
}  // namespace pvx::http
