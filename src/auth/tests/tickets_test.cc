#include <gtest/gtest.h>

#include <regex>

#include "auth/password_hash.h"
#include "auth/tickets.h"
#include "base/error.h"
#include "base/random.h"

namespace pvx::auth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

class TicketTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pair = generate_rsa_key_pair();
    priv_ = TicketKey::from_private_pem(pair.private_pem);
    pub_ = TicketKey::from_public_pem(pair.public_pem);
    other_ = TicketKey::from_private_pem(generate_rsa_key_pair().private_pem);
  }
  static void TearDownTestSuite() { priv_ = pub_ = other_ = nullptr; }
  static inline std::shared_ptr<const TicketKey> priv_, pub_, other_;
};

TEST_F(TicketTest, KeysAreRsaPem) {
  auto pair = generate_rsa_key_pair(1024);
  EXPECT_TRUE(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
  EXPECT_TRUE(pair.private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
  EXPECT_TRUE(priv_->can_sign());
  EXPECT_FALSE(pub_->can_sign());
  EXPECT_THROW(TicketKey::from_public_pem("garbage"), Error);
}

TEST_F(TicketTest, IssueAndVerify) {
  std::string t = assemble_ticket(*priv_, "root@pam", kNow);
  EXPECT_TRUE(std::regex_match(t, std::regex(R"(PVE:root@pam:[0-9A-F]{8}::[A-Za-z0-9+/]+=*)"))) << t;
  EXPECT_EQ(t.substr(13, 8), "6B49D200");  // 1'800'000'000 in hex
  EXPECT_EQ(verify_ticket(*pub_, t, kNow), "root@pam");
  EXPECT_EQ(verify_ticket(*priv_, t, kNow), "root@pam");
}

TEST_F(TicketTest, LifetimeAndClockSkew) {
  std::string t = assemble_ticket(*priv_, "ana@pve", kNow);
  EXPECT_TRUE(verify_ticket(*pub_, t, kNow + kTicketLifetime - 1));
  EXPECT_FALSE(verify_ticket(*pub_, t, kNow + kTicketLifetime));  // expired
  EXPECT_TRUE(verify_ticket(*pub_, t, kNow - kTicketClockSkew + 1));
  EXPECT_FALSE(verify_ticket(*pub_, t, kNow - kTicketClockSkew));  // too far in the future
}

TEST_F(TicketTest, TamperedOrForeignTicketsFail) {
  std::string t = assemble_ticket(*priv_, "ana@pve", kNow);
  std::string other_user = t;
  other_user.replace(4, 3, "bob");
  EXPECT_FALSE(verify_ticket(*pub_, other_user, kNow));
  std::string bad_sig = t;
  bad_sig[bad_sig.size() - 5] = bad_sig[bad_sig.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_ticket(*pub_, bad_sig, kNow));
  EXPECT_FALSE(verify_ticket(*pub_, assemble_ticket(*other_, "ana@pve", kNow), kNow));
  EXPECT_FALSE(verify_ticket(*pub_, "PVE:ana@pve:6B49D200::", kNow));
  EXPECT_FALSE(verify_ticket(*pub_, "", kNow));
  EXPECT_FALSE(verify_ticket(*pub_, t + " ", kNow));
}

TEST_F(TicketTest, ColonsInUseridAreEscaped) {
  std::string t = assemble_ticket(*priv_, "a:b@pve", kNow);
  EXPECT_TRUE(t.starts_with("PVE:a%3Ab@pve:"));
  EXPECT_EQ(verify_ticket(*pub_, t, kNow), "a:b@pve");
}

TEST(Csrf, GoodAndBad) {
  std::string secret = csrf_secret_from_key_file("key material\n");
  std::string token = assemble_csrf_token(secret, "root@pam", kNow);
  EXPECT_TRUE(std::regex_match(token, std::regex(R"(6B49D200:[A-Za-z0-9+/]{43})"))) << token;
  EXPECT_TRUE(verify_csrf_token(secret, "root@pam", token, kNow));
  EXPECT_TRUE(verify_csrf_token(secret, "root@pam", token, kNow + kTicketLifetime - 1));
  EXPECT_FALSE(verify_csrf_token(secret, "root@pam", token, kNow + kTicketLifetime));
  EXPECT_FALSE(verify_csrf_token(secret, "ana@pve", token, kNow));
  EXPECT_FALSE(verify_csrf_token(csrf_secret_from_key_file("other"), "root@pam", token, kNow));
  EXPECT_FALSE(verify_csrf_token(secret, "root@pam", "6B49D200:", kNow));
  EXPECT_FALSE(verify_csrf_token(secret, "root@pam", "garbage", kNow));
  std::string forged = token;
  forged.replace(0, 8, "6B49D201");  // a different time with the old signature
  EXPECT_FALSE(verify_csrf_token(secret, "root@pam", forged, kNow));
}

TEST(Secrets, PasswordHashes) {
  std::string h = hash_password("s3cret pass");
  EXPECT_TRUE(std::regex_match(h, std::regex(R"(\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43})"))) << h;
  EXPECT_TRUE(verify_password("s3cret pass", h));
  EXPECT_FALSE(verify_password("s3cret pas", h));
  EXPECT_FALSE(verify_password("s3cret pass", "!"));
  EXPECT_FALSE(verify_password("", ""));
  EXPECT_NE(hash_password("s3cret pass"), h);  // salted
}

TEST(Secrets, UuidV4) {
  std::string u = random_uuid();
  EXPECT_TRUE(std::regex_match(u, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"))) << u;
  EXPECT_NE(random_uuid(), u);
}

}  // namespace
}  // namespace pvx::auth
