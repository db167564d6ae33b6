#include "tasks/upid.h"

#include <cstdint>
#include <vector>

#include "base/strings.h"

namespace pvx::tasks {
namespace {

constexpr std::string_view kPrefix = "UPID:";

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// A node is a hostname label: alphanumerics and inner dashes.
bool valid_node(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '-') return false;
  }
  return true;
}

// type, id and user: anything but ':', '/' and whitespace (Perl's \s).
bool valid_word(std::string_view s, bool may_be_empty) {
  if (s.empty()) return may_be_empty;
  for (char c : s) {
    if (c == ':' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
        c == '\v') {
      return false;
    }
  }
  return true;
}

// Uppercase hex only: we print uppercase, so anything else did not come from us.
std::optional<std::uint64_t> parse_hex(std::string_view s, std::size_t min_len, std::size_t max_len) {
  if (s.size() < min_len || s.size() > max_len) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : s) {
    unsigned digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

std::string Upid::str() const {
  std::string out(kPrefix);
  out += node;
  out += ':';
  out += hex_upper(pid, 8);
  out += ':';
  out += hex_upper(pstart, 8);
  out += ':';
  out += hex_upper(static_cast<unsigned long long>(starttime), 8);
  out += ':';
  out += type;
  out += ':';
  out += id;
  out += ':';
  out += user;
  out += ':';
  return out;
}

std::optional<Upid> Upid::parse(std::string_view text) {
  if (!text.starts_with(kPrefix) || !text.ends_with(':')) return std::nullopt;
  // Fields after "UPID:", each terminated by ':': node, pid, pstart, starttime, type, id, user.
  std::vector<std::string_view> fields;
  std::string_view rest = text.substr(kPrefix.size());
  while (!rest.empty()) {
    auto colon = rest.find(':');
    fields.push_back(rest.substr(0, colon));
    rest.remove_prefix(colon + 1);
  }
  if (fields.size() != 7) return std::nullopt;

  // pstart counts clock ticks since boot; 9 digits cover about 20 years of uptime.
  auto pid = parse_hex(fields[1], 8, 8);
  auto pstart = parse_hex(fields[2], 8, 9);
  auto starttime = parse_hex(fields[3], 8, 8);
  if (!valid_node(fields[0]) || !pid || !pstart || !starttime || !valid_word(fields[4], false) ||
      !valid_word(fields[5], true) || !valid_word(fields[6], false)) {
    return std::nullopt;
  }
  Upid upid;
  upid.node = fields[0];
  upid.pid = static_cast<std::uint32_t>(*pid);
  upid.pstart = *pstart;
  upid.starttime = static_cast<std::int64_t>(*starttime);
  upid.type = fields[4];
  upid.id = fields[5];
  upid.user = fields[6];
  return upid;
}

}  // namespace pvx::tasks
