#pragma once
// Content types a storage may hold (storage.cfg `content`), and image formats.
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::storage {

// "images" (VM disks), "rootdir" (container volumes), "vztmpl", "iso", "backup", "snippets", "import".
inline constexpr std::string_view kContentTypes[] = {"images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import"};
bool is_content_type(std::string_view name);

using ContentSet = std::set<std::string>;
// "iso,vztmpl" -> {"iso","vztmpl"}; "none" -> {} (PVE writes "none" for an empty list).
ContentSet parse_content_list(std::string_view text);
// Printed in PVE's order: sorted.
std::string print_content_list(const ContentSet& content);

}  // namespace pvx::storage
