#include "http/message.h"

#include <strings.h>
#include <unistd.h>

namespace pvx::http {

SpooledFile::~SpooledFile() {
  if (!path.empty()) ::unlink(path.c_str());  // ENOENT when the handler moved it: fine
}

const std::string& Request::header(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [key, value] : headers) {
    // Names are stored lower-cased; comparing without case also forgives a caller's "Host".
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), name.size()) == 0) return value;
  }
  return kEmpty;
}

}  // namespace pvx::http
