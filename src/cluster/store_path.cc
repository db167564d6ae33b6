#include "cluster/store_path.h"

#include "base/error.h"

namespace pvx::cluster {
namespace {

std::string canonical(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t pos = 0;
  while (pos <= in.size()) {
    std::size_t slash = in.find('/', pos);
    if (slash == std::string_view::npos) slash = in.size();
    std::string_view seg = in.substr(pos, slash - pos);
    pos = slash + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") throw Error(400, "invalid store path '" + std::string(in) + "': '..' is not allowed", {});
    for (char c : seg) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        throw Error(400, "invalid store path '" + std::string(in) + "': control character", {});
      }
    }
    if (!out.empty()) out.push_back('/');
    out.append(seg);
  }
  return out;
}

}  // namespace

std::string normalize_path(std::string_view path) {
  std::string out = canonical(path);
  if (out.empty()) throw Error(400, "invalid store path '" + std::string(path) + "': empty", {});
  return out;
}

std::string normalize_prefix(std::string_view prefix) {
  std::string out = canonical(prefix);
  if (!out.empty()) out.push_back('/');
  return out;
}

bool path_matches(std::string_view prefix, std::string_view path) {
  if (prefix.empty()) return true;
  if (path.starts_with(prefix)) return true;
  return path == prefix.substr(0, prefix.size() - 1);
}

}  // namespace pvx::cluster
