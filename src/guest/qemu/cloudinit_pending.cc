// What the current cloud-init image was made from: [special:cloudinit] records the old value of
// every tracked key changed since (and which keys were added), as qemu-server keeps it, and
// GET /cloudinit shows the difference. Also the stored form of `cipassword`.
#include <crypt.h>
#include <openssl/rand.h>

#include <array>
#include <regex>
#include <set>

#include "base/error.h"
#include "guest/qemu/cloudinit.h"
#include "schema/formats.h"

namespace pvx::guest::qemu {
namespace {

// The cloud-init options PVE lists in GET /cloudinit (ipconfigN only show when added or deleted).
const std::array<const char*, 8> kCloudInitOptions = {"cicustom", "cipassword", "citype", "ciupgrade",
                                                      "ciuser", "nameserver", "searchdomain", "sshkeys"};
constexpr int kMaxNets = 32;
constexpr const char* kMasked = "**********";

bool indexed_key(std::string_view key, std::string_view prefix, int max) {
  if (!key.starts_with(prefix) || key.size() == prefix.size()) return false;
  auto digits = key.substr(prefix.size());
  if (digits.size() > 1 && digits[0] == '0') return false;
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
    if (n >= max) return false;
  }
  return true;
}

bool is_option(std::string_view key) {
  for (const char* o : kCloudInitOptions) {
    if (key == o) return true;
  }
  return false;
}

const std::string* value_of(const ConfigSection& s, const std::string& key) {
  auto it = s.values.find(key);
  return it == s.values.end() ? nullptr : &it->second;
}

bool truthy(const std::string* v) { return v && !v->empty() && *v != "0"; }

std::set<std::string> added_keys(const ConfigSection& ci) {
  std::set<std::string> out;
  if (const std::string* a = value_of(ci, "added")) {
    for (auto& k : schema::split_list(*a)) out.insert(std::move(k));
  }
  return out;
}

}  // namespace

bool is_cloudinit_key(std::string_view key) { return is_option(key) || indexed_key(key, "ipconfig", kMaxNets); }

bool is_cloudinit_tracked_key(std::string_view key) {
  return is_cloudinit_key(key) || key == "name" || indexed_key(key, "net", kMaxNets);
}

void record_cloudinit_change(GuestConfig& config, const std::string& key, const std::optional<std::string>& old_value,
                             const std::optional<std::string>& new_value) {
  if (!is_cloudinit_tracked_key(key) || key == "added") return;
  auto& ci = config.special["cloudinit"];
  auto added = added_keys(ci);
  ci.values.erase("added");
  const std::string* recorded = value_of(ci, key);

  if (new_value) {
    if (recorded) {
      // Already out of sync: going back to what the image has makes it in sync again.
      if (*new_value == *recorded) {
        ci.values.erase(key);
        added.erase(key);
      }
    } else if (!added.count(key)) {
      if (old_value) ci.values[key] = *old_value;
      else added.insert(key);
    }
  } else if (old_value) {
    // A deletion: remember the value the image has, unless it was only added since.
    if (!recorded) {
      if (added.count(key)) added.erase(key);
      else ci.values[key] = *old_value;
    }
  }

  std::string list;
  for (const auto& k : added) list += (list.empty() ? "" : ",") + k;
  if (!list.empty()) ci.values["added"] = list;
  if (ci.values.empty() && !ci.description) config.special.erase("cloudinit");
}

schema::Json cloudinit_pending(const GuestConfig& config) {
  ConfigSection ci;
  if (auto it = config.special.find("cloudinit"); it != config.special.end()) ci = it->second;
  ConfigSection conf = config.main;
  if (conf.has("cipassword")) conf.values["cipassword"] = kMasked;
  if (ci.has("cipassword")) ci.values["cipassword"] = kMasked;

  auto added = added_keys(ci);
  ci.values.erase("added");
  schema::Json out = schema::Json::array();
  for (const auto& key : added) {
    schema::Json item = {{"key", key}};
    if (const std::string* v = value_of(conf, key)) item["pending"] = *v;
    out.push_back(std::move(item));
  }
  for (const char* opt : kCloudInitOptions) {
    const std::string* current = value_of(conf, opt);
    if (!truthy(current) || added.count(opt)) continue;
    schema::Json item = {{"key", opt}};
    if (const std::string* old = value_of(ci, opt); truthy(old)) {
      item["value"] = *old;
      item["pending"] = *current;
    } else {
      item["value"] = *current;
    }
    out.push_back(std::move(item));
  }
  for (const auto& [key, value] : ci.values) {
    if (truthy(value_of(conf, key))) continue;
    out.push_back({{"key", key}, {"delete", 1}});
  }
  return out;
}

std::string hash_cipassword(const std::string& password, const std::string& ostype) {
  if (windows_version(ostype) > 0) return password;
  static const std::regex already_hashed(R"(^\$(?:[156]|2[ay])(\$.+){2})");
  if (std::regex_search(password, already_hashed)) return password;

  static constexpr char kSaltChars[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  unsigned char random[16];
  if (RAND_bytes(random, sizeof random) != 1) throw Error("unable to generate a password salt");
  std::string setting = "$6$";
  for (unsigned char r : random) setting += kSaltChars[r % 64];
  setting += "$";

  crypt_data data{};
  const char* hashed = ::crypt_r(password.c_str(), setting.c_str(), &data);
  if (!hashed || hashed[0] != '$') throw Error("unable to hash the cloud-init password");
  return hashed;
}

}  // namespace pvx::guest::qemu
