#pragma once
// Canonical form of ConfigStore paths, shared by every store implementation so that
// "/nodes//pve1/./x.conf" and "nodes/pve1/x.conf" name the same file and ".." can never escape.
#include <string>
#include <string_view>

namespace pvx::cluster {

// "a/b/c": no leading or trailing '/', no empty or "." segments. Throws Error 400 for an empty
// path, a ".." segment or a control character.
std::string normalize_path(std::string_view path);

// A directory prefix: "" (the whole tree) or "a/b/" (always ending in '/', so "nodes/pve1/" never
// matches "nodes/pve10/..."). Same refusals as normalize_path, except that "" is allowed.
std::string normalize_prefix(std::string_view prefix);

// True when `path` (normalised) lies below directory `prefix` (normalised) or, for watches on a
// single file, equals `prefix` without its trailing '/'.
bool path_matches(std::string_view prefix, std::string_view path);

}  // namespace pvx::cluster
