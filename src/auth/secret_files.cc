#include "auth/secret_files.h"

#include "base/strings.h"

namespace pvx::auth {
namespace {

template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    if (!line.empty() && line.front() != '#') fn(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

}  // namespace

SecretMap parse_shadow(std::string_view text) {
  SecretMap out;
  for_each_line(text, [&](std::string_view line) {
    auto c1 = line.find(':');
    if (c1 == std::string_view::npos || c1 == 0) return;
    std::string_view rest = line.substr(c1 + 1);
    std::string_view hash = rest.substr(0, rest.find(':'));
    if (!hash.empty()) out[std::string(line.substr(0, c1))] = std::string(hash);
  });
  return out;
}

std::string print_shadow(const SecretMap& entries) {
  std::string out;
  for (const auto& [id, hash] : entries) out += id + ":" + hash + ":\n";
  return out;
}

SecretMap parse_token_secrets(std::string_view text) {
  SecretMap out;
  for_each_line(text, [&](std::string_view line) {
    auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos || sp == 0) return;
    std::string_view hash = trim(line.substr(sp + 1));
    if (!hash.empty()) out[std::string(line.substr(0, sp))] = std::string(hash);
  });
  return out;
}

std::string print_token_secrets(const SecretMap& entries) {
  std::string out;
  for (const auto& [id, hash] : entries) out += id + " " + hash + "\n";
  return out;
}

}  // namespace pvx::auth
