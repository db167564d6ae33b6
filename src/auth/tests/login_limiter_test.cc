// The failed-login limits: per user, per address, aging out, and loopback exempt from the
// address limit.
#include <gtest/gtest.h>

#include "auth/login_limiter.h"

namespace pvx::auth {
namespace {

TEST(LoginLimiter, PerUserLimitAgesOut) {
  LoginLimiter l(LoginLimiter::Limits{.window_seconds = 60, .per_user = 3, .per_address = 100});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(l.refused("ana@pve", "192.0.2.1", 1000 + i), "");
    l.failed("ana@pve", "192.0.2.1", 1000 + i);
  }
  EXPECT_NE(l.refused("ana@pve", "192.0.2.9", 1010), "");  // from anywhere
  EXPECT_EQ(l.refused("ben@pve", "192.0.2.1", 1010), "");   // others are not affected
  EXPECT_EQ(l.refused("ana@pve", "192.0.2.1", 1061), "");   // the first failure aged out
}

TEST(LoginLimiter, PerAddressLimitButNotLoopback) {
  LoginLimiter l(LoginLimiter::Limits{.window_seconds = 60, .per_user = 100, .per_address = 2});
  l.failed("a@pve", "198.51.100.7", 1);
  l.failed("b@pve", "198.51.100.7", 2);
  EXPECT_NE(l.refused("c@pve", "198.51.100.7", 3), "");
  EXPECT_EQ(l.refused("c@pve", "198.51.100.8", 3), "");
  for (int i = 0; i < 5; ++i) l.failed("u" + std::to_string(i) + "@pve", "127.0.0.1", 4);
  EXPECT_EQ(l.refused("c@pve", "127.0.0.1", 5), "");
  EXPECT_EQ(l.refused("c@pve", "::1", 5), "");
}

TEST(LoginLimiter, SuccessClearsTheUser) {
  LoginLimiter l(LoginLimiter::Limits{.window_seconds = 60, .per_user = 2, .per_address = 100});
  l.failed("ana@pve", "192.0.2.1", 1);
  l.succeeded("ana@pve");
  l.failed("ana@pve", "192.0.2.1", 2);
  EXPECT_EQ(l.refused("ana@pve", "192.0.2.1", 3), "");
}

}  // namespace
}  // namespace pvx::auth
