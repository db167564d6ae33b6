#include "storage/qemu_img.h"

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/process.h"

namespace pvx::storage::qemu_img {
namespace {

// Large images and slow disks: conversions may take long, metadata calls must not.
constexpr auto kQuick = std::chrono::seconds(60);
constexpr auto kLong = std::chrono::hours(12);

std::string size_arg_kib(std::int64_t kib) { return std::to_string(kib) + "K"; }

}  // namespace

Info parse_info_json(std::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw Error(std::string("unable to parse qemu-img info output: ") + e.what());
  }
  if (!j.is_object() || !j.contains("virtual-size") || !j["virtual-size"].is_number_integer()) {
    throw Error("unexpected qemu-img info output: no virtual-size");
  }
  Info info;
  info.virtual_size = j["virtual-size"].get<std::int64_t>();
  info.actual_size = j.value("actual-size", std::int64_t{0});
  info.format = j.value("format", std::string());
  info.backing_file = j.value("backing-filename", std::string());
  if (auto it = j.find("snapshots"); it != j.end() && it->is_array()) {
    for (const auto& s : *it) info.snapshots.push_back(s.value("name", std::string()));
  }
  return info;
}

Info info(const std::filesystem::path& file, std::string_view format) {
  std::vector<std::string> argv{"qemu-img", "info", "--output=json"};
  if (!format.empty()) argv.insert(argv.end(), {"-f", std::string(format)});
  argv.push_back(file.string());
  return parse_info_json(run_command(argv, {.timeout = kQuick}).out);
}

void create(const std::filesystem::path& file, const std::string& format, std::int64_t size_kib,
            const std::string& preallocation) {
  std::vector<std::string> argv{"qemu-img", "create"};
  if (!preallocation.empty() && preallocation != "off" && (format == "qcow2" || format == "raw")) {
    // raw knows no "metadata" preallocation: PVE maps it to off.
    if (!(format == "raw" && preallocation == "metadata")) argv.insert(argv.end(), {"-o", "preallocation=" + preallocation});
  }
  argv.insert(argv.end(), {"-f", format, file.string(), size_arg_kib(size_kib)});
  run_command(argv, {.timeout = kLong});
}

void create_linked(const std::filesystem::path& file, const std::string& backing_relative,
                   const std::string& backing_format) {
  run_command({"qemu-img", "create", "-f", "qcow2", "-b", backing_relative, "-F", backing_format, file.string()},
              {.timeout = kQuick});
}

void resize(const std::filesystem::path& file, const std::string& format, std::int64_t size_bytes) {
  run_command({"qemu-img", "resize", "-f", format, file.string(), std::to_string(size_bytes)}, {.timeout = kQuick});
}

void convert(const std::filesystem::path& from, const std::string& from_format, const std::filesystem::path& to,
             const std::string& to_format, std::string_view snapshot) {
  std::vector<std::string> argv{"qemu-img", "convert", "-p", "-n"};
  if (!snapshot.empty()) argv.insert(argv.end(), {"-l", "snapshot.name=" + std::string(snapshot)});
  argv.insert(argv.end(), {"-f", from_format, "-O", to_format, from.string(), to.string()});
  // -n: the target exists already (created with the right size by the caller).
  run_command(argv, {.timeout = kLong});
}

void snapshot_create(const std::filesystem::path& file, std::string_view name) {
  run_command({"qemu-img", "snapshot", "-c", std::string(name), file.string()}, {.timeout = kQuick});
}
void snapshot_apply(const std::filesystem::path& file, std::string_view name) {
  run_command({"qemu-img", "snapshot", "-a", std::string(name), file.string()}, {.timeout = kQuick});
}
void snapshot_delete(const std::filesystem::path& file, std::string_view name) {
  run_command({"qemu-img", "snapshot", "-d", std::string(name), file.string()}, {.timeout = kQuick});
}

}  // namespace pvx::storage::qemu_img
