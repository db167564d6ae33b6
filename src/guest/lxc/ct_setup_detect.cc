// Which distribution a container rootfs holds, and its version where setup depends on it.
#include <array>
#include <utility>

#include "base/error.h"
#include "base/strings.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {
namespace {

constexpr std::array<std::string_view, 11> kOstypes = {
    "alpine", "archlinux", "centos", "debian", "devuan", "fedora",
    "gentoo", "nixos",     "opensuse", "ubuntu", "unmanaged"};

// os-release IDs of relatives that PVE sets up like a known distribution; "rhel" and "suse"
// only appear in ID_LIKE.
constexpr std::array<std::pair<std::string_view, std::string_view>, 9> kAliases = {{
    {"opensuse-leap", "opensuse"},
    {"opensuse-tumbleweed", "opensuse"},
    {"opensuse-slowroll", "opensuse"},
    {"sles", "opensuse"},
    {"suse", "opensuse"},
    {"arch", "archlinux"},
    {"rocky", "centos"},
    {"almalinux", "centos"},
    {"rhel", "centos"},
}};

std::optional<std::string> known_type(std::string_view id) {
  for (auto t : kOstypes)
    if (t == id) return std::string(t);
  for (auto [alias, type] : kAliases)
    if (alias == id) return std::string(type);
  return std::nullopt;
}

// Undoes the backslash escapes os-release(5) allows inside double quotes.
std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

std::map<std::string, std::string> read_os_release(const RootFs& fs) {
  auto text = fs.read("/etc/os-release");
  if (!text) text = fs.read("/usr/lib/os-release");
  return text ? parse_os_release(*text) : std::map<std::string, std::string>{};
}

bool has_os_release(const RootFs& fs) { return fs.is_file("/etc/os-release") || fs.is_file("/usr/lib/os-release"); }

// The marker files PVE looks at when os-release names nothing it knows, in its order.
std::optional<std::string> detect_by_files(const RootFs& fs) {
  if (auto lsb = fs.read("/etc/lsb-release")) {
    for (const auto& line : split_any(*lsb, "\n"))
      if (to_lower(trim(line)) == "distrib_id=ubuntu") return "ubuntu";
  }
  if (fs.is_file("/etc/debian_version")) return "debian";
  if (fs.is_file("/etc/devuan_version")) return "devuan";
  if (fs.is_file("/etc/SuSE-brand") || fs.is_file("/etc/SuSE-release")) return "opensuse";
  if (fs.is_file("/etc/fedora-release")) return "fedora";
  if (fs.is_file("/etc/centos-release") || fs.is_file("/etc/redhat-release")) return "centos";
  if (fs.is_file("/etc/arch-release")) return "archlinux";
  if (fs.is_file("/etc/alpine-release")) return "alpine";
  if (fs.is_file("/etc/gentoo-release")) return "gentoo";
  if (fs.is_dir("/nix/store")) return "nixos";
  return std::nullopt;
}

}  // namespace

Version Version::parse(std::string_view text) {
  Version v;
  text = trim(text);
  std::size_t i = 0;
  auto number = [&](int* out) {
    const std::size_t start = i;
    int n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 8) n = n * 10 + (text[i++] - '0');
    if (i == start) return false;
    *out = n;
    return true;
  };
  if (!number(&v.major)) return Version{};
  if (i < text.size() && text[i] == '.') {
    ++i;
    number(&v.minor);
  }
  return v;
}

std::map<std::string, std::string> parse_os_release(std::string_view text) {
  std::map<std::string, std::string> vars;
  for (const auto& raw : split_any(text, "\n")) {
    const std::string_view line = trim(raw);
    const auto eq = line.find('=');
    if (line.empty() || line.front() == '#' || eq == std::string_view::npos || eq == 0) continue;
    const std::string key(line.substr(0, eq));
    if (key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) continue;
    std::string_view value = line.substr(eq + 1);
    if (!value.empty() && value.front() == '\'') {
      const auto end = value.find('\'', 1);
      vars[key] = std::string(value.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
    } else if (!value.empty() && value.front() == '"') {
      std::size_t end = 1;
      while (end < value.size() && value[end] != '"') end += value[end] == '\\' ? 2 : 1;
      vars[key] = unescape(value.substr(1, std::min(end, value.size()) - 1));
    } else {
      vars[key] = std::string(value.substr(0, value.find_first_of(" \t#")));
    }
  }
  return vars;
}

std::string detect(const RootFs& fs) {
  const auto os = read_os_release(fs);
  const auto id = os.find("ID");
  if (id != os.end() && !id->second.empty()) {
    if (auto t = known_type(id->second)) return *t;
  }
  if (auto t = detect_by_files(fs)) return *t;
  // Beyond PVE: derivatives that say whose relatives they are (ID_LIKE="debian").
  if (auto like = os.find("ID_LIKE"); like != os.end()) {
    for (const auto& word : split_any(like->second, " \t")) {
      if (auto t = known_type(word); t && *t != "unmanaged") return *t;
    }
  }
  if (has_os_release(fs)) {
    const std::string named = id != os.end() ? " (os-release ID '" + id->second + "')" : std::string();
    throw Error("unable to detect OS distribution" + named +
                    "; set the container's 'ostype' (debian, ubuntu, alpine, centos, fedora, opensuse, archlinux, "
                    "gentoo, nixos, devuan), or 'unmanaged' to skip setting it up",
                500);
  }
  if (!fs.is_dir("/etc")) throw Error("unable to detect OS distribution: /etc not present in the container, is the rootfs mounted?", 500);
  return "unmanaged";  // PVE's choice for a rootfs without os-release and without marker files
}

Version distro_version(const RootFs& fs, const std::string& ostype) {
  auto first_line = [&](const char* path) { return fs.read_first_line(path).value_or(""); };
  if (ostype == "debian") {
    std::string v = first_line("/etc/debian_version");
    // Testing and unstable write a codename; the ones setup cares about are all >= 10.
    if (v.find("/sid") != std::string::npos || v == "kali-rolling") return Version{12, 0};
    return Version::parse(v);
  }
  if (ostype == "ubuntu") {
    if (auto lsb = fs.read("/etc/lsb-release")) {
      for (const auto& line : split_any(*lsb, "\n"))
        if (line.rfind("DISTRIB_RELEASE=", 0) == 0) return Version::parse(line.substr(16));
    }
    return Version::parse(read_os_release(fs)["VERSION_ID"]);
  }
  if (ostype == "alpine") return Version::parse(first_line("/etc/alpine-release"));
  if (ostype == "centos") {
    const std::string release = first_line("/etc/redhat-release");
    if (auto at = release.find("release "); at != std::string::npos) return Version::parse(release.substr(at + 8));
    return Version::parse(read_os_release(fs)["VERSION_ID"]);
  }
  if (ostype == "fedora") return Version::parse(read_os_release(fs)["VERSION_ID"]);
  return Version{};
}

}  // namespace pvx::guest::lxc::setup

namespace pvx::guest::lxc {

std::string detect_ostype(const std::filesystem::path& rootfs) {
  RootFs fs(rootfs, 0, 0);  // read only: the owner ids are never used
  return setup::detect(fs);
}

}  // namespace pvx::guest::lxc
