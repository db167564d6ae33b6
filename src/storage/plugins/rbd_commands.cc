#include "storage/plugins/rbd_commands.h"

#include <nlohmann/json.hpp>
#include <regex>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::storage::rbd {
namespace {

using Json = nlohmann::json;

Json parse_json(std::string_view text, std::string_view what) {
  auto t = trim(text);
  if (t.empty()) return Json::array();
  try {
    return Json::parse(t);
  } catch (const Json::exception&) {
    throw Error("got unexpected data from " + std::string(what) + ": '" + std::string(t.substr(0, 200)) + "'", 500);
  }
}

std::int64_t int_of(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<std::int64_t>();
}

std::string parent_of(const Json& j) {
  auto it = j.find("parent");
  if (it == j.end() || !it->is_object()) return {};
  return it->value("image", "") + "@" + it->value("snapshot", "");
}

bool protected_of(const Json& j) {
  auto it = j.find("protected");
  if (it == j.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  return it->is_string() && it->get<std::string>() == "true";  // rbd prints "true"/"false" strings
}

}  // namespace

std::vector<std::string> split_monhost(std::string_view monhost) { return split_any(monhost, " ,;\t"); }

namespace {
void add_connection(std::vector<std::string>& argv, const Connection& c) {
  if (!c.conf.empty()) argv.insert(argv.end(), {"-c", c.conf});
  if (!c.mons.empty()) {
    std::string mons;
    for (const auto& m : c.mons) mons += (mons.empty() ? "" : ",") + m;
    argv.insert(argv.end(), {"-m", mons, "--auth_supported", c.auth()});
  }
  argv.insert(argv.end(), {"-n", "client." + c.user});
  if (!c.keyring.empty()) argv.insert(argv.end(), {"--keyring", c.keyring});
}
}  // namespace

std::vector<std::string> rbd_argv(const Connection& c, const std::vector<std::string>& op_and_args) {
  std::vector<std::string> argv = {"rbd", "-p", c.pool};
  if (!c.ns.empty()) argv.insert(argv.end(), {"--namespace", c.ns});
  add_connection(argv, c);
  argv.insert(argv.end(), op_and_args.begin(), op_and_args.end());
  return argv;
}

std::vector<std::string> ceph_argv(const Connection& c, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ceph"};
  add_connection(argv, c);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string image_spec(const Connection& c, const std::string& image) {
  return c.pool + (c.ns.empty() ? "" : "/" + c.ns) + "/" + image;
}

std::string qemu_path(const Connection& c, const std::string& image, const std::string& snap) {
  std::string p = "rbd:" + image_spec(c, image) + (snap.empty() ? "" : "@" + snap);
  if (!c.conf.empty()) p += ":conf=" + c.conf;
  if (!c.mons.empty()) {
    // QEMU splits the rbd: string on ':' and mon_host on ';', so colons inside are escaped.
    std::string mons;
    for (const auto& m : c.mons) {
      if (!mons.empty()) mons += ';';
      for (char ch : m) {
        if (ch == ':') mons += '\\';
        mons += ch;
      }
    }
    p += ":mon_host=" + mons + ":auth_supported=" + c.auth();
  }
  if (!c.keyring.empty()) p += ":id=" + c.user + ":keyring=" + c.keyring;
  return p;
}

std::string krbd_path(const Connection& c, const std::string& image, const std::string& snap) {
  return "/dev/rbd/" + image_spec(c, image) + (snap.empty() ? "" : "@" + snap);
}

std::vector<Image> parse_ls(std::string_view json) {
  static const std::regex kOwner(R"((vm|base)-(\d+)-.*)");
  std::vector<Image> out;
  auto j = parse_json(json, "rbd ls");
  if (!j.is_array()) throw Error("got unexpected data from rbd ls: not a list", 500);
  for (const auto& e : j) {
    if (!e.is_object() || e.contains("snapshot")) continue;
    auto name = e.value("image", "");
    std::smatch m;
    if (!std::regex_match(name, m, kOwner)) continue;
    out.push_back(Image{name, int_of(e, "size"), parent_of(e), std::stoll(m[2].str())});
  }
  return out;
}

std::vector<Snapshot> parse_snap_ls(std::string_view json) {
  std::vector<Snapshot> out;
  auto j = parse_json(json, "rbd snap ls");
  if (!j.is_array()) throw Error("got unexpected data from rbd snap ls: not a list", 500);
  for (const auto& e : j) {
    if (e.is_object() && e.contains("name")) out.push_back({e.value("name", ""), protected_of(e)});
  }
  return out;
}

Info parse_info(std::string_view json) {
  auto j = parse_json(json, "rbd info");
  if (!j.is_object()) throw Error("got unexpected data from rbd info: not an object", 500);
  return Info{int_of(j, "size"), parent_of(j), static_cast<int>(int_of(j, "format")), protected_of(j)};
}

std::optional<std::int64_t> parse_du(std::string_view json, std::string_view image) {
  auto j = parse_json(json, "rbd du");
  if (!j.is_object() || !j.contains("images") || !j["images"].is_array()) return std::nullopt;
  for (const auto& e : j["images"]) {
    if (e.contains("snapshot") || e.value("name", "") != image) continue;
    if (e.contains("used_size")) return int_of(e, "used_size");
  }
  return std::nullopt;
}

std::optional<PoolUsage> parse_ceph_df(std::string_view json, std::string_view pool) {
  auto j = parse_json(json, "ceph df");
  if (!j.is_object() || !j.contains("pools") || !j["pools"].is_array()) return std::nullopt;
  for (const auto& p : j["pools"]) {
    if (p.value("name", "") != pool || !p.contains("stats")) continue;
    const auto& s = p["stats"];
    PoolUsage u;
    u.avail = int_of(s, "max_avail");
    u.used = s.contains("stored") ? int_of(s, "stored") : int_of(s, "bytes_used");
    return u;
  }
  return std::nullopt;
}

}  // namespace pvx::storage::rbd
