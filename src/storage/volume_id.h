#pragma once
// Volume identifiers "<storage>:<volname>" as PVE writes them in guest configs and the API
// ("local:iso/debian.iso", "local:100/vm-100-disk-0.qcow2", "tank:vm-100-disk-0").
// Parsing refuses what could leave the storage: "..", absolute names, NUL and newlines.
#include <optional>
#include <string>
#include <string_view>

namespace pvx::storage {

struct VolumeId {
  std::string storage;
  std::string volname;

  // Throws Error 400 naming `param` ("volume" by default) when the text is not a volume id.
  static VolumeId parse(std::string_view text, const std::string& param = "volume");
  static std::optional<VolumeId> try_parse(std::string_view text);
  std::string str() const { return storage + ":" + volname; }
  bool operator==(const VolumeId&) const = default;
};

// Whether a volume name is safe to join to a storage path: no "..", no leading '/', no empty
// or "." components, no control characters.
bool is_safe_volname(std::string_view volname);

}  // namespace pvx::storage
