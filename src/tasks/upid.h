#pragma once
// Proxmox task ids: "UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:" with pid,
// pstart and starttime in uppercase hex, zero-padded to 8 digits, and the trailing colon.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pvx::tasks {

struct Upid {
  std::string node;
  std::uint32_t pid = 0;
  std::uint64_t pstart = 0;
  std::int64_t starttime = 0;
  std::string type;  // "qmstart", "vzdump", ...
  std::string id;    // usually the vmid; may be empty
  std::string user;  // "root@pam" or "user@realm!token"

  std::string str() const;
  // nullopt unless exactly the 9-field form with valid hex numbers.
  static std::optional<Upid> parse(std::string_view text);
  bool operator==(const Upid&) const = default;
};

}  // namespace pvx::tasks
