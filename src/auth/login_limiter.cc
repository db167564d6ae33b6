#include "auth/login_limiter.h"

#include <algorithm>

namespace pvx::auth {

namespace {
std::string user_key(std::string_view userid) { return "u:" + std::string(userid); }
std::string address_key(std::string_view address) { return "a:" + std::string(address); }
}  // namespace

std::size_t LoginLimiter::count(const std::string& key, std::int64_t now) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return 0;
  auto& times = it->second;
  while (!times.empty() && times.front() <= now - limits_.window_seconds) times.pop_front();
  if (times.empty()) {
    failures_.erase(it);
    return 0;
  }
  return times.size();
}

void LoginLimiter::record(const std::string& key, std::int64_t now) {
  if (failures_.size() >= kMaxKeys && !failures_.contains(key)) {
    // Drop the record whose last failure is oldest: it is the least likely to matter.
    auto stalest = std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
      return a.second.back() < b.second.back();
    });
    failures_.erase(stalest);
  }
  failures_[key].push_back(now);
}

bool LoginLimiter::is_loopback(std::string_view address) {
  return address.starts_with("127.") || address == "::1" || address.starts_with("::ffff:127.") || address == "unix";
}

std::string LoginLimiter::refused(std::string_view userid, std::string_view address, std::int64_t now) {
  std::lock_guard lock(mutex_);
  if (!userid.empty() && count(user_key(userid), now) >= limits_.per_user) {
    return "too many failed logins for user '" + std::string(userid) + "', try again later";
  }
  if (!address.empty() && !is_loopback(address) && count(address_key(address), now) >= limits_.per_address) {
    return "too many failed logins from " + std::string(address) + ", try again later";
  }
  return {};
}

void LoginLimiter::failed(std::string_view userid, std::string_view address, std::int64_t now) {
  std::lock_guard lock(mutex_);
  if (!userid.empty()) record(user_key(userid), now);
  if (!address.empty() && !is_loopback(address)) record(address_key(address), now);
}

void LoginLimiter::succeeded(std::string_view userid) {
  std::lock_guard lock(mutex_);
  failures_.erase(user_key(userid));
}

}  // namespace pvx::auth
