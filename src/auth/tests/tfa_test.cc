// TOTP against RFC 6238's test vectors, otpauth URIs, recovery keys that work once, and the
// tfa.cfg document's entry handling.
#include <gtest/gtest.h>

#include "auth/recovery_keys.h"
#include "auth/tfa_config.h"
#include "auth/totp.h"
#include "auth/webauthn.h"
#include "base/error.h"

namespace pvx::auth {
namespace {

TotpKey rfc_key(const std::string& algorithm, const std::string& secret) {
  TotpKey k;
  k.secret = secret;
  k.algorithm = algorithm;
  k.digits = 8;
  return k;
}

TEST(Totp, Rfc6238Vectors) {
  const std::string s1 = "12345678901234567890";
  const std::string s256 = "12345678901234567890123456789012";
  const std::string s512 = "1234567890123456789012345678901234567890123456789012345678901234";
  struct V { std::int64_t t; const char* sha1; const char* sha256; const char* sha512; };
  for (const V& v : {V{59, "94287082", "46119246", "90693936"}, V{1111111109, "07081804", "68084774", "25091201"},
                     V{1234567890, "89005924", "91819424", "93441116"}, V{20000000000, "65353130", "77737706", "47863826"}}) {
    EXPECT_EQ(rfc_key("SHA1", s1).code_at(v.t / 30), v.sha1);
    EXPECT_EQ(rfc_key("SHA256", s256).code_at(v.t / 30), v.sha256);
    EXPECT_EQ(rfc_key("SHA512", s512).code_at(v.t / 30), v.sha512);
  }
}

TEST(Totp, OneStepOfSkewIsAccepted) {
  TotpKey k = rfc_key("SHA1", "12345678901234567890");
  const std::int64_t now = 1111111109;
  EXPECT_EQ(k.verify(k.code_at(now / 30), now), now / 30);
  EXPECT_TRUE(k.verify(k.code_at(now / 30 - 1), now));
  EXPECT_TRUE(k.verify(k.code_at(now / 30 + 1), now));
  EXPECT_FALSE(k.verify(k.code_at(now / 30 - 2), now));
  EXPECT_FALSE(k.verify(k.code_at(now / 30 + 2), now));
  EXPECT_FALSE(k.verify("123", now));
}

TEST(Totp, UriRoundTripAndErrors) {
  TotpKey k = TotpKey::from_uri("otpauth://totp/pvx%3Aana%40pve?secret=JBSWY3DPEHPK3PXP&digits=6&period=30&algorithm=sha1");
  EXPECT_EQ(k.issuer, "pvx");
  EXPECT_EQ(k.account, "ana@pve");
  EXPECT_EQ(base32_encode(k.secret), "JBSWY3DPEHPK3PXP");
  TotpKey again = TotpKey::from_uri(k.to_uri());
  EXPECT_EQ(again.secret, k.secret);
  EXPECT_EQ(again.code_at(5), k.code_at(5));
  EXPECT_THROW(TotpKey::from_uri("otpauth://hotp/x?secret=JBSWY3DP"), Error);
  EXPECT_THROW(TotpKey::from_uri("otpauth://totp/x?secret=!!!"), Error);
  EXPECT_THROW(TotpKey::from_uri("otpauth://totp/x?secret=JBSWY3DP&algorithm=MD5"), Error);
  EXPECT_THROW(TotpKey::from_uri("otpauth://totp/x?secret=JBSWY3DP&digits=3"), Error);
}

TEST(RecoveryKeys, EachWorksOnce) {
  RecoverySet set = generate_recovery_keys(1700000000);
  ASSERT_EQ(set.keys.size(), 10u);
  EXPECT_EQ(set.keys[0].size(), 19u);  // xxxx-xxxx-xxxx-xxxx
  EXPECT_EQ(set.stored.dump().find(set.keys[0]), std::string::npos);  // only digests are stored
  EXPECT_EQ(recovery_available(set.stored).size(), 10u);
  EXPECT_TRUE(consume_recovery_key(set.stored, set.keys[3]));
  EXPECT_FALSE(consume_recovery_key(set.stored, set.keys[3]));
  EXPECT_FALSE(consume_recovery_key(set.stored, "0000-0000-0000-0000"));
  auto left = recovery_available(set.stored);
  EXPECT_EQ(left.size(), 9u);
  EXPECT_EQ(std::find(left.begin(), left.end(), 3), left.end());
}

TEST(TfaConfig, EntriesOfAPveDocument) {
  const std::string text = R"({"users":{"ana@pve":{
    "totp":[{"id":"t1","description":"phone","created":1700000000,"entry":"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"}],
    "recovery":{"secret":"00","entries":["aa",null],"created":1700000001},
    "yubico":[{"id":"y1","description":"key","created":1,"enable":false,"entry":"ccccccabcdef"}]}},
    "webauthn":{"rp":"pve","origin":"https://pve:8006","id":"pve"}})";
  TfaDoc doc = parse_tfa_cfg(text);
  const auto* u = tfa_user(doc, "ana@pve");
  ASSERT_NE(u, nullptr);
  auto entries = tfa_entries(*u);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0]["type"], "totp");
  EXPECT_EQ(entries[1]["type"], "yubico");
  EXPECT_EQ(entries[1]["enable"], 0);
  EXPECT_EQ(entries[2]["id"], "recovery");
  auto& mu = tfa_user_mut(doc, "ana@pve");
  EXPECT_TRUE(tfa_update_entry(mu, "y1", std::string("usb key"), true));
  EXPECT_FALSE(mu["yubico"][0].contains("enable"));
  EXPECT_TRUE(tfa_delete_entry(mu, "t1"));
  EXPECT_FALSE(mu.contains("totp"));
  // Unknown members survive a rewrite.
  TfaDoc again = parse_tfa_cfg(print_tfa_cfg(doc));
  EXPECT_EQ(again["webauthn"]["origin"], "https://pve:8006");
  EXPECT_EQ(parse_tfa_cfg("not json")["users"], nlohmann::json::object());
}

TEST(Webauthn, Base64UrlAndCredentialForm) {
  EXPECT_EQ(base64url_encode(std::string("\xfb\xff", 2)), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::string("\xfb\xff", 2));
  EXPECT_THROW(base64url_decode("a$b"), Error);
  WebauthnCredential c{.id = "id-1", .x = std::string(32, '\x01'), .y = std::string(32, '\x02'), .counter = 7};
  WebauthnCredential back = WebauthnCredential::from_json(c.to_json());
  EXPECT_EQ(back.id, c.id);
  EXPECT_EQ(back.x, c.x);
  EXPECT_EQ(back.counter, 7u);
}

}  // namespace
}  // namespace pvx::auth
