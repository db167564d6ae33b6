#pragma once
// PVE's one-line escaping of free text ("encode_text"): every byte outside printable ASCII, and
// '%' and ':', becomes %XX (uppercase hex). Used for datacenter.cfg and guest descriptions, user.cfg
// comments and other fields that must stay on one line or inside a ':'-separated record.
#include <string>
#include <string_view>

namespace pvx::config {

std::string encode_text(std::string_view text);
// Plain %XX unescaping; '+' stays '+'.
std::string decode_text(std::string_view text);

}  // namespace pvx::config
