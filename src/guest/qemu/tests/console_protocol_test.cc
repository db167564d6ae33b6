// The termproxy byte protocol: the ticket line and the input/resize/ping messages, fed whole,
// split at every byte boundary and run together, as a WebSocket may deliver them.
#include <gtest/gtest.h>

#include "base/error.h"
#include "guest/qemu/console_protocol.h"

namespace pvx::guest::qemu {
namespace {

using Kind = TermEvent::Kind;

// Decoded input joined, with the resizes and pings counted.
struct Decoded {
  std::string input;
  std::vector<std::pair<int, int>> resizes;
  int pings = 0;
};

Decoded decode_in_pieces(const std::string& stream, std::size_t piece) {
  TermproxyDecoder decoder;
  Decoded out;
  for (std::size_t i = 0; i < stream.size(); i += piece) {
    for (auto& e : decoder.feed(std::string_view(stream).substr(i, piece))) {
      if (e.kind == Kind::Input) out.input += e.data;
      if (e.kind == Kind::Resize) out.resizes.emplace_back(e.cols, e.rows);
      if (e.kind == Kind::Ping) ++out.pings;
    }
  }
  return out;
}

TEST(TicketLine, SplitsUserAndTicketAndKeepsTheRest) {
  TicketLineReader reader;
  std::string rest;
  EXPECT_FALSE(reader.feed("root@pam:PVEVNC:6B49", rest));
  auto line = reader.feed("D200::c2ln+/=\n0:1:a", rest);
  ASSERT_TRUE(line);
  EXPECT_EQ(line->user, "root@pam");
  EXPECT_EQ(line->ticket, "PVEVNC:6B49D200::c2ln+/=");
  EXPECT_EQ(rest, "0:1:a");
}

TEST(TicketLine, RefusesLinesWithoutColonOrTooLong) {
  std::string rest;
  TicketLineReader reader;
  EXPECT_THROW(reader.feed("no-colon-here\n", rest), Error);
  TicketLineReader small(16);
  EXPECT_THROW(small.feed(std::string(17, 'x'), rest), Error);
}

TEST(Termproxy, MessagesOfAllKinds) {
  std::string stream = termproxy_input("ls -l\r") + "2" + termproxy_resize(120, 40) + termproxy_input("") +
                       termproxy_input("\x1b[A\xc3\xa4") + "2";
  EXPECT_EQ(termproxy_resize(80, 24), "1:80:24:");
  EXPECT_EQ(termproxy_input("abc"), "0:3:abc");
  auto whole = decode_in_pieces(stream, stream.size());
  EXPECT_EQ(whole.input, "ls -l\r\x1b[A\xc3\xa4");
  EXPECT_EQ(whole.resizes, (std::vector<std::pair<int, int>>{{120, 40}}));
  EXPECT_EQ(whole.pings, 2);
  // The same stream cut at every size gives the same result.
  for (std::size_t piece = 1; piece < stream.size(); ++piece) {
    auto cut = decode_in_pieces(stream, piece);
    EXPECT_EQ(cut.input, whole.input) << "piece " << piece;
    EXPECT_EQ(cut.resizes, whole.resizes) << "piece " << piece;
    EXPECT_EQ(cut.pings, whole.pings) << "piece " << piece;
  }
}

TEST(Termproxy, PayloadMayContainProtocolBytesAndArrivesAsItComes) {
  // Colons, digits and newlines inside the payload are data, not framing.
  std::string payload = "0:12:2\n1:2:3:";
  TermproxyDecoder decoder;
  std::string framed = termproxy_input(payload);
  auto first = decoder.feed(framed.substr(0, 8));
  ASSERT_EQ(first.size(), 1u);
  std::size_t header = framed.size() - payload.size();
  EXPECT_EQ(first[0].data, payload.substr(0, 8 - header)) << "partial input is passed on at once";
  auto second = decoder.feed(framed.substr(8));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(first[0].data + second[0].data, payload);
}

TEST(Termproxy, UnknownTypeBytesAreSkippedMalformedNumbersRefused) {
  auto skipped = decode_in_pieces("x9" + termproxy_input("ok"), 100);
  EXPECT_EQ(skipped.input, "ok");
  TermproxyDecoder a;
  EXPECT_THROW(a.feed("0:abc:"), Error);
  TermproxyDecoder b;
  EXPECT_THROW(b.feed("0::"), Error);
  TermproxyDecoder c;
  EXPECT_THROW(c.feed("1;80:24:"), Error);
  TermproxyDecoder d;
  EXPECT_THROW(d.feed("1:800000:24:"), Error);
  TermproxyDecoder e;
  EXPECT_THROW(e.feed("0:12345678901:"), Error);
}

}  // namespace
}  // namespace pvx::guest::qemu
