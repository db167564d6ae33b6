#include "config/text_codec.h"

#include "base/strings.h"

namespace pvx::config {

std::string encode_text(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c <= 0x7e && c != '%' && c != ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

std::string decode_text(std::string_view text) { return url_decode(text, /*plus_is_space=*/false); }

}  // namespace pvx::config
