#pragma once
// The byte protocol PVE's xterm.js front-end speaks to termproxy over the console WebSocket.
// Client -> server is one byte stream (message boundaries of the WebSocket carry no meaning):
//   first  "<userid>:<vnc ticket>\n"      the server answers "OK" when the ticket is good
//   then   "0:<n>:<n bytes>"              terminal input
//          "1:<cols>:<rows>:"             terminal resized
//          "2"                            keep-alive ping (every 30 s)
// Server -> client is the terminal's output as it is, after the "OK".
// Pure functions and a small state machine; no I/O, so it is tested byte by byte.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::guest::qemu {

struct TicketLine {
  std::string user;    // "root@pam" (or "user@realm!token")
  std::string ticket;  // everything after the first ':'
};

// Collects the first line. feed() returns the parsed line once the '\n' arrived and leaves the
// bytes after it in `rest`. Throws Error 400 for a line without ':' or longer than `limit`.
class TicketLineReader {
 public:
  explicit TicketLineReader(std::size_t limit = 4096) : limit_(limit) {}
  std::optional<TicketLine> feed(std::string_view bytes, std::string& rest);

 private:
  std::size_t limit_;
  std::string line_;
};

struct TermEvent {
  enum class Kind { Input, Resize, Ping };
  Kind kind = Kind::Input;
  std::string data;       // Input: bytes for the terminal (a long message may come in pieces)
  int cols = 0, rows = 0; // Resize
};

// Decodes the messages after the ticket line. Input is passed on as soon as its bytes arrive,
// so a large paste is never held whole. Unknown type bytes are skipped, as termproxy does;
// a malformed length or size throws Error 400 (the session then ends).
class TermproxyDecoder {
 public:
  std::vector<TermEvent> feed(std::string_view bytes);

 private:
  enum class State { Type, AfterType, Length, Payload, Cols, Rows };
  State state_ = State::Type;
  char type_ = 0;
  std::string number_;
  std::size_t remaining_ = 0;
  int cols_ = 0;
  int parse_number(std::size_t max_digits);
};

// The client side, for tests and tools: one input message and one resize message.
std::string termproxy_input(std::string_view data);
std::string termproxy_resize(int cols, int rows);

}  // namespace pvx::guest::qemu
