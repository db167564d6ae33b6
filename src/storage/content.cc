#include "storage/content.h"

#include "base/error.h"
#include "base/strings.h"

namespace pvx::storage {

bool is_content_type(std::string_view name) {
  for (auto t : kContentTypes) {
    if (t == name) return true;
  }
  return false;
}

ContentSet parse_content_list(std::string_view text) {
  ContentSet out;
  for (const auto& part : split_any(text, ",; ")) {
    if (part.empty() || part == "none") continue;
    out.insert(part);
  }
  return out;
}

std::string print_content_list(const ContentSet& content) {
  if (content.empty()) return "none";
  std::string out;
  for (const auto& c : content) {
    if (!out.empty()) out += ',';
    out += c;
  }
  return out;
}

}  // namespace pvx::storage
