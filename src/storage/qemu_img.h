#pragma once
// qemu-img, the tool behind file-based disk images: create, info, resize, snapshots, convert.
// The JSON that `qemu-img info --output=json` prints is parsed by a pure function (tested with
// recorded output of qemu-img 7.2).
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pvx::storage::qemu_img {

struct Info {
  std::int64_t virtual_size = 0;
  std::int64_t actual_size = 0;
  std::string format;
  std::string backing_file;  // as stored in the image (may be relative)
  std::vector<std::string> snapshots;  // internal snapshot names
};

Info parse_info_json(std::string_view json);  // throws Error on malformed output
Info info(const std::filesystem::path& file, std::string_view format = {});

// preallocation: "off", "metadata", "falloc", "full" ("" = qemu-img's default for the format).
void create(const std::filesystem::path& file, const std::string& format, std::int64_t size_kib,
            const std::string& preallocation = {});
// A qcow2 overlay whose backing file is `backing` (relative path allowed), same virtual size.
void create_linked(const std::filesystem::path& file, const std::string& backing_relative,
                   const std::string& backing_format);
void resize(const std::filesystem::path& file, const std::string& format, std::int64_t size_bytes);
void convert(const std::filesystem::path& from, const std::string& from_format, const std::filesystem::path& to,
             const std::string& to_format, std::string_view snapshot = {});
void snapshot_create(const std::filesystem::path& file, std::string_view name);
void snapshot_apply(const std::filesystem::path& file, std::string_view name);
void snapshot_delete(const std::filesystem::path& file, std::string_view name);

}  // namespace pvx::storage::qemu_img
