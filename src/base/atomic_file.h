#pragma once
// Whole-file writes that a crash cannot tear: write a temporary beside the target, fsync it,
// rename it over the target, fsync the directory.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace pvx {

void write_file_atomic(const std::filesystem::path& path, std::string_view data, unsigned mode = 0644);
std::optional<std::string> read_file(const std::filesystem::path& path);

}  // namespace pvx
