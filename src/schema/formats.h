#pragma once
// Named string formats as PVE declares them (pve-vmid, pve-node, pve-storage-id, pve-configid,
// pve-userid, pve-tokenid, pve-poolid, email, ip, ipv4, ipv6, cidr, mac-addr, pve-volume-id,
// disk-size, pve-tag, ...). A name ending in "-list" is that format applied to each element of a
// list separated by commas, semicolons or white space (PVE's "-list" convention).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::schema {

// nullopt when `value` is valid for `format`, otherwise the message PVE would give
// (e.g. "value does not look like a valid node name"). An unknown format name is an error in
// the declaration and throws std::logic_error.
std::optional<std::string> check_format(std::string_view format, std::string_view value);
bool format_known(std::string_view format);
std::vector<std::string> known_formats();

// Splits a "-list" value as PVE does: on NUL bytes when there are any (repeated form fields),
// otherwise on commas, semicolons and white space, dropping empty pieces.
std::vector<std::string> split_list(std::string_view text);

// "32G", "512M", "1.5T", "100" (bytes): size in bytes, or nullopt.
std::optional<std::uint64_t> parse_disk_size(std::string_view text);
// Largest exact unit, as PVE prints sizes: 34359738368 -> "32G", 540672 -> "528K".
std::string format_disk_size(std::uint64_t bytes);

}  // namespace pvx::schema
