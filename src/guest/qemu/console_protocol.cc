#include "guest/qemu/console_protocol.h"

#include "base/error.h"

namespace pvx::guest::qemu {
namespace {

constexpr std::size_t kLengthDigits = 9;  // one input message stays under 1 GB
constexpr std::size_t kSizeDigits = 5;

[[noreturn]] void malformed(const std::string& what) { throw Error("malformed terminal message: " + what, 400); }

}  // namespace

std::optional<TicketLine> TicketLineReader::feed(std::string_view bytes, std::string& rest) {
  auto nl = bytes.find('\n');
  std::string_view head = bytes.substr(0, nl);
  if (line_.size() + head.size() > limit_) throw Error("authentication data is too long", 400);
  line_.append(head);
  if (nl == std::string_view::npos) return std::nullopt;
  rest.assign(bytes.substr(nl + 1));
  auto colon = line_.find(':');
  if (colon == std::string::npos) throw Error("authentication data is invalid", 400);
  TicketLine out{line_.substr(0, colon), line_.substr(colon + 1)};
  line_.clear();
  return out;
}

int TermproxyDecoder::parse_number(std::size_t max_digits) {
  if (number_.empty() || number_.size() > max_digits) malformed("bad number '" + number_ + "'");
  int value = 0;
  for (char c : number_) value = value * 10 + (c - '0');
  number_.clear();
  return value;
}

std::vector<TermEvent> TermproxyDecoder::feed(std::string_view bytes) {
  std::vector<TermEvent> events;
  auto input = [&]() -> std::string& {
    if (events.empty() || events.back().kind != TermEvent::Kind::Input) events.push_back({});
    return events.back().data;
  };
  std::size_t i = 0;
  while (i < bytes.size()) {
    char c = bytes[i];
    switch (state_) {
      case State::Type:
        ++i;
        if (c == '0' || c == '1') {
          type_ = c;
          state_ = State::AfterType;
        } else if (c == '2') {
          events.push_back({.kind = TermEvent::Kind::Ping});
        }  // anything else: skipped, as termproxy does
        break;
      case State::AfterType:
        ++i;
        if (c != ':') malformed("expected ':' after the type");
        state_ = type_ == '0' ? State::Length : State::Cols;
        break;
      case State::Length:
      case State::Cols:
      case State::Rows: {
        ++i;
        if (c >= '0' && c <= '9') {
          number_.push_back(c);
          if (number_.size() > kLengthDigits) malformed("number too long");
          break;
        }
        if (c != ':') malformed("unexpected byte in a number");
        if (state_ == State::Length) {
          remaining_ = static_cast<std::size_t>(parse_number(kLengthDigits));
          state_ = remaining_ == 0 ? State::Type : State::Payload;
        } else if (state_ == State::Cols) {
          cols_ = parse_number(kSizeDigits);
          state_ = State::Rows;
        } else {
          int rows = parse_number(kSizeDigits);
          events.push_back({.kind = TermEvent::Kind::Resize, .cols = cols_, .rows = rows});
          state_ = State::Type;
        }
        break;
      }
      case State::Payload: {
        std::size_t n = std::min(remaining_, bytes.size() - i);
        input().append(bytes.substr(i, n));
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::Type;
        break;
      }
    }
  }
  return events;
}

std::string termproxy_input(std::string_view data) {
  return "0:" + std::to_string(data.size()) + ":" + std::string(data);
}

std::string termproxy_resize(int cols, int rows) {
  return "1:" + std::to_string(cols) + ":" + std::to_string(rows) + ":";
}

}  // namespace pvx::guest::qemu
