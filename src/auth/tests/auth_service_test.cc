#include <gtest/gtest.h>

#include <ctime>
#include <regex>

#include <nlohmann/json.hpp>

#include "auth/auth_service.h"
#include "auth/user_config.h"
#include "base/error.h"
#include "memory_store.h"

namespace pvx::auth {
namespace {

using testing::MemoryStore;

// One store and service for the suite: generating the RSA key is the slow part.
class AuthServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store_ = new MemoryStore();
    auth_ = new AuthService(*store_);
    auth_->initialize();
  }
  static void TearDownTestSuite() {
    delete auth_;
    delete store_;
  }

  // Appends records to user.cfg as an administrator's edit would.
  static void add_to_user_cfg(const std::string& lines) {
    auto cur = store_->read("user.cfg");
    store_->write("user.cfg", (cur ? cur->data : "") + lines, std::nullopt);
  }
  static void replace_in_user_cfg(const std::string& from, const std::string& to) {
    std::string data = store_->read("user.cfg")->data;
    auto pos = data.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    store_->write("user.cfg", data.replace(pos, from.size(), to), std::nullopt);
  }
  static int login_status(const std::string& user, const std::string& password,
                          const std::optional<std::string>& realm = std::nullopt) {
    try {
      auth_->login(user, password, realm);
      return 200;
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "authentication failure");
      return e.status();
    }
  }

  static inline MemoryStore* store_ = nullptr;
  static inline AuthService* auth_ = nullptr;
};

TEST_F(AuthServiceTest, InitializeCreatesFirstStartFilesOnce) {
  for (const char* f : {"authkey.pub", "priv/authkey.key", "priv/pve-www.key", "domains.cfg", "user.cfg"}) {
    EXPECT_TRUE(store_->read(f)) << f;
  }
  EXPECT_NE(store_->read("domains.cfg")->data.find("pam: pam\n"), std::string::npos);
  EXPECT_NE(store_->read("domains.cfg")->data.find("pve: pve\n"), std::string::npos);
  EXPECT_NE(store_->read("user.cfg")->data.find("acl:1:/:root@pam:Administrator:"), std::string::npos);
  EXPECT_NE(store_->read("user.cfg")->data.find("user:root@pam:1:"), std::string::npos);

  std::uint64_t rev = store_->revision();
  auth_->initialize();
  EXPECT_EQ(store_->revision(), rev);  // nothing rewritten
}

TEST_F(AuthServiceTest, PamRefusesWrongRootPassword) {
  EXPECT_EQ(login_status("root@pam", "definitely-not-the-password"), 401);
  EXPECT_EQ(login_status("root", "definitely-not-the-password", "pam"), 401);
}

TEST_F(AuthServiceTest, PveRealmPasswordLogin) {
  add_to_user_cfg("user:pw@pve:1:0::::::\n");
  EXPECT_THROW(auth_->set_password("ghost@pve", "secret1"), Error);
  // (a pam user's password goes to chpasswd, as in PVE: not exercised here, it would change root's)
  auth_->set_password("pw@pve", "secret1");
  EXPECT_EQ(store_->read("priv/shadow.cfg")->data.find("secret1"), std::string::npos);
  EXPECT_TRUE(store_->read("priv/shadow.cfg")->data.starts_with("pw@pve:$5$"));

  LoginResult r = auth_->login("pw@pve", "secret1");
  EXPECT_EQ(r.username, "pw@pve");
  EXPECT_TRUE(std::regex_match(r.ticket, std::regex(R"(PVE:pw@pve:[0-9A-F]{8}::\S+)"))) << r.ticket;
  auto who = auth_->verify_ticket(r.ticket);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->user, "pw@pve");
  EXPECT_FALSE(who->is_token());
  EXPECT_TRUE(auth_->verify_csrf("pw@pve", r.csrf_token));
  EXPECT_FALSE(auth_->verify_csrf("root@pam", r.csrf_token));

  EXPECT_EQ(login_status("pw", "secret1", "pve"), 200);  // realm parameter appended
  EXPECT_EQ(login_status("pw@pve", "secret1", "pve"), 200);
  EXPECT_EQ(login_status("pw@pve", "secret2"), 401);
  EXPECT_EQ(login_status("pw@pve", ""), 401);
  EXPECT_EQ(login_status("nobody@pve", "secret1"), 401);
  EXPECT_EQ(login_status("pw@nosuchrealm", "secret1"), 401);
}

TEST_F(AuthServiceTest, TicketAsPasswordRenews) {
  add_to_user_cfg("user:renew@pve:1:0::::::\nuser:other@pve:1:0::::::\n");
  auth_->set_password("renew@pve", "pass-renew");
  LoginResult first = auth_->login("renew@pve", "pass-renew");
  LoginResult second = auth_->login("renew@pve", first.ticket);
  EXPECT_EQ(second.username, "renew@pve");
  EXPECT_TRUE(auth_->verify_ticket(second.ticket));
  // Another user's ticket is not a password for this one.
  EXPECT_EQ(login_status("other@pve", first.ticket), 401);
}

TEST_F(AuthServiceTest, DisabledUserIsRefusedAndLosesItsTickets) {
  add_to_user_cfg("user:dis@pve:1:0::::::\n");
  auth_->set_password("dis@pve", "pass-dis");
  LoginResult r = auth_->login("dis@pve", "pass-dis");
  ASSERT_TRUE(auth_->verify_ticket(r.ticket));
  replace_in_user_cfg("user:dis@pve:1:", "user:dis@pve:0:");
  EXPECT_EQ(login_status("dis@pve", "pass-dis"), 401);
  EXPECT_FALSE(auth_->verify_ticket(r.ticket));  // the cached user.cfg noticed the change
  EXPECT_EQ(login_status("dis@pve", r.ticket), 401);
}

TEST_F(AuthServiceTest, ExpiredUserIsRefused) {
  add_to_user_cfg("user:exp@pve:1:1000::::::\n");
  auth_->set_password("exp@pve", "pass-exp");
  EXPECT_EQ(login_status("exp@pve", "pass-exp"), 401);
}

TEST_F(AuthServiceTest, TicketFromAnotherInstallationIsRejected) {
  MemoryStore other_store;
  AuthService other(other_store);
  other.initialize();
  other_store.write("user.cfg", "user:x@pve:1:0::::::\n", std::nullopt);
  other.set_password("x@pve", "pass-x");
  add_to_user_cfg("user:x@pve:1:0::::::\n");
  LoginResult r = other.login("x@pve", "pass-x");
  EXPECT_TRUE(other.verify_ticket(r.ticket));
  EXPECT_FALSE(auth_->verify_ticket(r.ticket));
  EXPECT_FALSE(auth_->verify_csrf("x@pve", r.csrf_token));
}

TEST_F(AuthServiceTest, VerifyingTicketsUsesCachedKeysUntilTheyChange) {
  MemoryStore store;
  AuthService auth(store);
  auth.initialize();
  store.write("user.cfg", "user:k@pve:1:0::::::\n", std::nullopt);
  auth.set_password("k@pve", "pass-k");
  LoginResult r = auth.login("k@pve", "pass-k");
  ASSERT_TRUE(auth.verify_ticket(r.ticket));
  std::uint64_t before = store.reads();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(auth.verify_ticket(r.ticket));
  EXPECT_EQ(store.reads() - before, 0u);  // nothing changed in the store: neither user.cfg nor the key is read

  // A new key pair written to the store (a rotation) replaces the cached one.
  MemoryStore donor;
  AuthService(donor).initialize();
  store.write("priv/authkey.key", donor.read("priv/authkey.key")->data, std::nullopt);
  store.write("authkey.pub", donor.read("authkey.pub")->data, std::nullopt);
  EXPECT_FALSE(auth.verify_ticket(r.ticket));
  LoginResult fresh = auth.login("k@pve", "pass-k");
  EXPECT_TRUE(auth.verify_ticket(fresh.ticket));
}

TEST_F(AuthServiceTest, ApiTokens) {
  add_to_user_cfg("user:tok@pve:1:0::::::\n");
  std::string secret = auth_->create_token("tok@pve", "ci", true, 0, "pipeline: main");
  EXPECT_TRUE(std::regex_match(secret, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  std::string token_cfg = store_->read("priv/token.cfg")->data;
  EXPECT_EQ(token_cfg.find(secret), std::string::npos);  // only the hash is stored
  EXPECT_TRUE(token_cfg.starts_with("tok@pve!ci $5$")) << token_cfg;
  EXPECT_NE(store_->read("user.cfg")->data.find("token:tok@pve!ci:0:1:pipeline%3A main:\n"), std::string::npos);

  auto who = auth_->verify_api_token("tok@pve!ci=" + secret);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->user, "tok@pve");
  EXPECT_EQ(who->token, "ci");
  EXPECT_TRUE(who->privsep);
  EXPECT_EQ(who->full(), "tok@pve!ci");
  EXPECT_TRUE(auth_->verify_api_token("tok@pve!ci " + secret));  // space instead of '='
  EXPECT_TRUE(auth_->verify_api_token("tok@pve!ci=" + secret));  // again, from the memo

  EXPECT_FALSE(auth_->verify_api_token("tok@pve!ci=" + secret.substr(1) + "0"));
  EXPECT_FALSE(auth_->verify_api_token("tok@pve!nope=" + secret));
  EXPECT_FALSE(auth_->verify_api_token("ghost@pve!ci=" + secret));
  EXPECT_FALSE(auth_->verify_api_token("tok@pve!ci="));
  EXPECT_FALSE(auth_->verify_api_token("tok@pve!ci"));
  EXPECT_FALSE(auth_->verify_api_token(""));

  EXPECT_THROW(auth_->create_token("tok@pve", "ci", true), Error);     // exists
  EXPECT_THROW(auth_->create_token("ghost@pve", "ci", true), Error);   // no such user
  EXPECT_THROW(auth_->create_token("tok@pve", "c i", true), Error);    // bad name
  EXPECT_TRUE(auth_->verify_api_token("tok@pve!ci=" + secret));       // the failed create kept it
}

TEST_F(AuthServiceTest, ExpiredTokenAndDisabledOwnerAreRejected) {
  add_to_user_cfg("user:tok2@pve:1:0::::::\n");
  std::string gone = auth_->create_token("tok2@pve", "old", false, 1000);
  std::string live = auth_->create_token("tok2@pve", "live", false);
  EXPECT_FALSE(auth_->verify_api_token("tok2@pve!old=" + gone));
  auto who = auth_->verify_api_token("tok2@pve!live=" + live);
  ASSERT_TRUE(who);
  EXPECT_FALSE(who->privsep);
  replace_in_user_cfg("user:tok2@pve:1:", "user:tok2@pve:0:");
  EXPECT_FALSE(auth_->verify_api_token("tok2@pve!live=" + live));
}

TEST_F(AuthServiceTest, TokenPrivilegesWithPrivsep) {
  add_to_user_cfg(
      "user:ops@pve:1:0::::::\n"
      "acl:1:/vms:ops@pve:PVEVMAdmin:\n");
  std::string secret = auth_->create_token("ops@pve", "ro", true);
  std::string full = auth_->create_token("ops@pve", "all", false);
  add_to_user_cfg("acl:1:/vms:ops@pve!ro:PVEAuditor:\n");
  auto ro = *auth_->verify_api_token("ops@pve!ro=" + secret);
  auto all = *auth_->verify_api_token("ops@pve!all=" + full);
  EXPECT_EQ(auth_->privileges(ro, "/vms/100"), (std::set<std::string>{"VM.Audit", "VM.GuestAgent.Audit"}));
  EXPECT_TRUE(auth_->check(all, "/vms/100", {"VM.Allocate", "VM.PowerMgmt"}, false));
  EXPECT_FALSE(auth_->check(ro, "/vms/100", {"VM.Allocate", "VM.Audit"}, false));
  EXPECT_TRUE(auth_->check(ro, "/vms/100", {"VM.Allocate", "VM.Audit"}, true));
  EXPECT_FALSE(auth_->check(ro, "/", {"VM.Audit"}, true));
}

TEST_F(AuthServiceTest, PermissionsAndCapabilities) {
  Identity root{.user = "root@pam"};
  EXPECT_TRUE(auth_->check(root, "/nodes/n1", {"Sys.PowerMgmt"}, false));
  auto perms = auth_->permissions(root, std::string("/vms/100"));
  EXPECT_EQ(perms["/vms/100"]["VM.Allocate"], 1);
  auto cap = auth_->capabilities(root);
  EXPECT_EQ(cap["vms"]["VM.Allocate"], 1);
  EXPECT_EQ(cap["dc"]["Sys.Audit"], 1);

  add_to_user_cfg("user:aud@pve:1:0::::::\nacl:1:/:aud@pve:PVEAuditor:\n");
  Identity aud{.user = "aud@pve"};
  auto all = auth_->permissions(aud, std::nullopt);
  EXPECT_EQ(all["/"]["Sys.Audit"], 1);
  EXPECT_EQ(all["/vms"]["VM.Audit"], 1);
  EXPECT_FALSE(all["/"].contains("VM.Allocate"));
  EXPECT_FALSE(auth_->check(aud, "/vms/100", {"VM.PowerMgmt"}, false));
  EXPECT_TRUE(auth_->check(aud, "/storage/local", {"Datastore.Audit"}, false));
  auto aud_cap = auth_->capabilities(aud);
  EXPECT_EQ(aud_cap["nodes"], nlohmann::json({{"Sys.Audit", 1}}));
  EXPECT_EQ(aud_cap["dc"], nlohmann::json({{"Sys.Audit", 1}, {"SDN.Audit", 1}}));
  EXPECT_EQ(auth_->user_config()->user("aud@pve")->enable, true);
}

}  // namespace
}  // namespace pvx::auth
