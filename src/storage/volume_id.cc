#include "storage/volume_id.h"

#include "base/error.h"
#include "schema/formats.h"

namespace pvx::storage {

bool is_safe_volname(std::string_view v) {
  if (v.empty() || v.front() == '/' || v.size() > 4096) return false;
  std::size_t start = 0;
  while (start <= v.size()) {
    auto end = v.find('/', start);
    if (end == std::string_view::npos) end = v.size();
    auto part = v.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::optional<VolumeId> VolumeId::try_parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string storage(text.substr(0, colon));
  if (schema::check_format("pve-storage-id", storage)) return std::nullopt;
  auto volname = text.substr(colon + 1);
  if (!is_safe_volname(volname)) return std::nullopt;
  return VolumeId{std::move(storage), std::string(volname)};
}

VolumeId VolumeId::parse(std::string_view text, const std::string& param) {
  auto id = try_parse(text);
  if (!id) throw Error::param(param, "unable to parse volume ID '" + std::string(text) + "'");
  return *id;
}

}  // namespace pvx::storage
