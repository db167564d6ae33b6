#pragma once
// Small string helpers shared by parsers.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvx {

std::string_view trim(std::string_view s);
// Splits on any of the characters in `seps`, dropping empty pieces.
std::vector<std::string> split_any(std::string_view s, std::string_view seps);
std::string url_decode(std::string_view s, bool plus_is_space = true);
std::string url_encode(std::string_view s);
std::string to_lower(std::string_view s);
std::string base64_encode(std::string_view data);
std::string base64_decode(std::string_view data);
std::string hex_upper(unsigned long long value, int width);
// The whole text as a decimal int (std::from_chars: optional '-', no '+', no blanks); nullopt otherwise.
std::optional<int> to_int(std::string_view s);

}  // namespace pvx
