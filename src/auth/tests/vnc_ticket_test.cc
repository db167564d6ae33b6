// Short-lived (VNC) tickets: PVE's shape, binding to user/path/port, the 40 s window, and the
// password-prefixed form vncproxy answers with.
#include <gtest/gtest.h>

#include <regex>

#include "auth/auth_service.h"
#include "auth/tickets.h"
#include "memory_store.h"

namespace pvx::auth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

TEST(ShortLivedTicket, ShapeBindingAndWindow) {
  auto pair = generate_rsa_key_pair();
  auto priv = TicketKey::from_private_pem(pair.private_pem);
  auto pub = TicketKey::from_public_pem(pair.public_pem);
  std::string t = assemble_short_lived_ticket(*priv, "PVEVNC", "root@pam:/vms/100:5900", kNow);
  EXPECT_TRUE(std::regex_match(t, std::regex(R"(PVEVNC:6B49D200::[A-Za-z0-9+/]+=*)"))) << t;
  EXPECT_EQ(t.find("root@pam"), std::string::npos) << "the user must not be readable from the ticket";
  EXPECT_TRUE(verify_short_lived_ticket(*pub, "PVEVNC", t, "root@pam:/vms/100:5900", kNow));
  // Bound to every part of the secret data and to the prefix.
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", t, "root@pam:/vms/100:5901", kNow));
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", t, "root@pam:/vms/101:5900", kNow));
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", t, "alice@pve:/vms/100:5900", kNow));
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVETUNNEL", t, "root@pam:/vms/100:5900", kNow));
  // PVE's window: age in (-20, 40) seconds.
  EXPECT_TRUE(verify_short_lived_ticket(*pub, "PVEVNC", t, "root@pam:/vms/100:5900", kNow + 39));
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", t, "root@pam:/vms/100:5900", kNow + 40));
  EXPECT_TRUE(verify_short_lived_ticket(*pub, "PVEVNC", t, "root@pam:/vms/100:5900", kNow - 19));
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", t, "root@pam:/vms/100:5900", kNow - 20));
  // Tampering and junk.
  std::string forged = t;
  forged[8] = forged[8] == '0' ? '1' : '0';
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", forged, "root@pam:/vms/100:5900", kNow));
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", "", "root@pam:/vms/100:5900", kNow));
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", "PVEVNC:6B49D200::", "x", kNow));
  EXPECT_FALSE(verify_short_lived_ticket(*pub, "PVEVNC", t + " ", "root@pam:/vms/100:5900", kNow));
}

TEST(ShortLivedTicket, ServiceVncTicketsAcceptThePasswordPrefix) {
  testing::MemoryStore store;
  AuthService auth(store);
  auth.initialize();
  std::string t = auth.assemble_vnc_ticket("root@pam", "/vms/100", 5901);
  EXPECT_TRUE(t.starts_with("PVEVNC:"));
  EXPECT_TRUE(auth.verify_vnc_ticket(t, "root@pam", "/vms/100", 5901));
  EXPECT_TRUE(auth.verify_vnc_ticket("ab:d!e`f:" + t, "root@pam", "/vms/100", 5901));
  EXPECT_FALSE(auth.verify_vnc_ticket("abc:" + t, "root@pam", "/vms/100", 5901));
  EXPECT_FALSE(auth.verify_vnc_ticket(t, "root@pam", "/vms/100", 5902));
  EXPECT_FALSE(auth.verify_vnc_ticket(t, "root@pam", "/vms/200", 5901));
  EXPECT_FALSE(auth.verify_vnc_ticket("PVE:root@pam:" + t.substr(7), "root@pam", "/vms/100", 5901));
}

}  // namespace
}  // namespace pvx::auth
