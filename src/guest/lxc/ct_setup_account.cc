// Root's account in a new container: password hash in /etc/shadow (or /etc/passwd), SSH keys,
// and a machine-id reset so that clones of a template do not share one.
#include <crypt.h>

#include <ctime>
#include <memory>
#include <regex>

#include "base/error.h"
#include "base/random.h"
#include "base/strings.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {
namespace {

// Root's line with its password field set to `value`; for shadow also the day of the last
// change. Lines too short to be entries are left alone.
std::string replace_root_field(std::string_view text, const std::string& value, bool shadow) {
  std::string out;
  for (const auto& line : lines_of(text)) {
    if (line.rfind("root:", 0) != 0) {
      out += line + "\n";
      continue;
    }
    std::vector<std::string> fields;
    std::size_t pos = 0;
    for (;;) {
      const auto colon = line.find(':', pos);
      fields.push_back(line.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
      if (colon == std::string::npos) break;
      pos = colon + 1;
    }
    if (fields.size() < (shadow ? 4u : 3u)) {  // not a well-formed entry: leave it
      out += line + "\n";
      continue;
    }
    fields[1] = value;
    if (shadow) fields[2] = std::to_string(std::time(nullptr) / 86400);
    std::string joined;
    for (std::size_t i = 0; i < fields.size(); ++i) joined += (i ? ":" : "") + fields[i];
    out += joined + "\n";
  }
  return out;
}

std::string home_of_root(const RootFs& fs) {
  if (auto passwd = fs.read("/etc/passwd")) {
    for (const auto& line : lines_of(*passwd)) {
      if (line.rfind("root:", 0) != 0) continue;
      std::vector<std::string> fields;
      std::size_t pos = 0;
      for (int i = 0; i < 7; ++i) {
        const auto colon = line.find(':', pos);
        fields.push_back(line.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
        if (colon == std::string::npos) break;
        pos = colon + 1;
      }
      if (fields.size() >= 6 && !fields[5].empty()) return fields[5];
    }
  }
  return "/root";
}

}  // namespace

bool looks_like_crypt_hash(std::string_view value) {
  // MD5, bcrypt, SHA-256/512, scrypt and yescrypt settings; never a ':' or newline, which
  // would break the shadow line.
  static const std::regex hashed(R"(^\$(1|2[abxy]|5|6|7|y|gy)\$[./A-Za-z0-9$=,]+$)");
  return std::regex_match(value.begin(), value.end(), hashed);
}

std::string hash_password(const std::string& password) {
  const std::string entropy = random_bytes(16);
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!::crypt_gensalt_rn("$6$", 0, entropy.data(), static_cast<int>(entropy.size()), setting, sizeof setting)) {
    throw Error("unable to make a password salt", 500);
  }
  auto data = std::make_unique<crypt_data>();  // large: keep it off the stack
  const char* hashed = ::crypt_r(password.c_str(), setting, data.get());
  if (!hashed || hashed[0] != '$') throw Error("unable to hash the root password", 500);
  return hashed;
}

void set_root_password(Context& ctx, const std::optional<std::string>& password) {
  if (!ctx.fs.is_file("/etc/passwd")) return;
  // As PVE: no password given locks password login ("*"); keys and `pct enter` still work.
  const std::string value = !password ? std::string("*") : looks_like_crypt_hash(*password) ? *password : hash_password(*password);
  if (auto shadow = ctx.fs.read("/etc/shadow")) {
    ctx.fs.write("/etc/shadow", replace_root_field(*shadow, value, true), 0640);
    ctx.fs.write("/etc/passwd", replace_root_field(*ctx.fs.read("/etc/passwd"), "x", false));
  } else {
    ctx.fs.write("/etc/passwd", replace_root_field(*ctx.fs.read("/etc/passwd"), value, false));
  }
}

void set_root_ssh_keys(Context& ctx, const std::string& keys) {
  if (trim(keys).empty()) return;
  std::string home = home_of_root(ctx.fs);
  while (home.size() > 1 && home.back() == '/') home.pop_back();
  if (!ctx.fs.is_dir(home)) throw Error("home directory '" + home + "' of root does not exist in the container", 500);
  const std::string dir = (home == "/" ? std::string() : home) + "/.ssh";
  if (!ctx.fs.is_dir(dir)) ctx.fs.make_dirs(dir, 0700);
  modify_file(ctx, dir + "/authorized_keys", keys, Placement::append, false, 0600);
}

void clear_machine_id(Context& ctx) {
  const bool systemd = ctx.fs.is_file("/lib/systemd/systemd") || ctx.fs.is_file("/usr/lib/systemd/systemd");
  constexpr std::string_view kDbus = "/var/lib/dbus/machine-id";
  if (systemd && ctx.fs.is_file(kDbus) && !ctx.fs.is_symlink(kDbus)) ctx.fs.remove(kDbus);
  // Without /etc/machine-id the first boot makes a new one (systemd's first-boot presets run).
  if (ctx.fs.is_file("/etc/machine-id")) ctx.fs.remove("/etc/machine-id");
}

}  // namespace pvx::guest::lxc::setup
