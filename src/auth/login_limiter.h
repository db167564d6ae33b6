#pragma once
// Limits password guessing: failed logins are counted per user and per source address over a
// sliding window; past the limit, further attempts are refused without checking the password
// until old failures age out. (The HTTP layer additionally delays every failed login answer.)
// Memory stays bounded: at most kMaxKeys user/address records are kept, the stalest dropped.
// Thread-safe. Time is passed in so tests can move it.
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pvx::auth {

class LoginLimiter {
 public:
  struct Limits {
    std::int64_t window_seconds = 15 * 60;
    std::size_t per_user = 10;
    std::size_t per_address = 30;
  };
  static constexpr std::size_t kMaxKeys = 20000;

  LoginLimiter() : LoginLimiter(Limits{}) {}
  explicit LoginLimiter(Limits limits) : limits_(limits) {}

  // Loopback addresses are not limited per address: a reverse proxy on the host would make one
  // address of every client (per-user limits still apply).
  static bool is_loopback(std::string_view address);

  // Empty when an attempt may proceed, else why not ("too many failed logins for user ...").
  std::string refused(std::string_view userid, std::string_view address, std::int64_t now);
  void failed(std::string_view userid, std::string_view address, std::int64_t now);
  // A successful login clears the user's failures (not the address's: one address may guess many users).
  void succeeded(std::string_view userid);

 private:
  std::size_t count(const std::string& key, std::int64_t now);
  void record(const std::string& key, std::int64_t now);

  Limits limits_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::deque<std::int64_t>> failures_;  // key -> failure times, oldest first
};

}  // namespace pvx::auth
