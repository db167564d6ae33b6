#pragma once
// Appliance indexes (`aplinfo.dat`): the lists of container templates PVE's `pveam` downloads.
// An index is Debian-control-like paragraphs (Package, Version, Type, OS, Section, Location,
// md5sum/sha512sum, Description with continuation lines, ...). pvx keeps the indexes `pveam
// update` fetched in <data-dir>/apl-info/, and the URLs to fetch them from in
// <data-dir>/apl-info/sources (one per line, `#` comments; PVE's two sources when absent).
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvx::storage {

// The entries of one index as GET /nodes/{node}/aplinfo shows them: lower-case field names,
// `headline` (the description's first line) and `description` (the rest), `location` made
// absolute against `source_url`, `template` (the file name of the location) and `source`.
// Entries without Package, Version or Location, or whose file name could name a path
// ("../x", "a/b"), are skipped.
std::vector<nlohmann::json> parse_aplinfo(std::string_view text, const std::string& source_url);

// The configured index URLs.
std::vector<std::string> aplinfo_sources(const std::filesystem::path& data_dir);
// Where the index of `url` is kept: <data-dir>/apl-info/<url with unsafe characters as '_'>.
std::filesystem::path aplinfo_index_file(const std::filesystem::path& data_dir, const std::string& url);
// Every entry of every kept index, sorted by template name (later sources do not repeat one).
std::vector<nlohmann::json> load_aplinfo(const std::filesystem::path& data_dir);

}  // namespace pvx::storage
