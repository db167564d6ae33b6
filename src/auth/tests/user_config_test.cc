#include <gtest/gtest.h>

#include "auth/user_config.h"

namespace pvx::auth {
namespace {

// The example of config-formats.md §7.1, already in PVE's canonical write order.
constexpr const char* kCanonical =
    "user:ana@pve:1:0:Ana:Costa:ana@example.com:storage team%3A lab::\n"
    "token:ana@pve!ansible:0:1:used by the playbooks:\n"
    "user:ben@corp-ldap:1:1767225599:Ben::ben@corp.example:::\n"
    "user:root@pam:1:0:::ops@example.com:::\n"
    "\n"
    "group:ops:ana@pve,ben@corp-ldap:Operations:\n"
    "\n"
    "pool:lab:Lab guests:105,204:fast,nas:\n"
    "pool:lab/ci::::\n"
    "\n"
    "role:BackupOperator:Datastore.AllocateSpace,Datastore.Audit,VM.Audit,VM.Backup:\n"
    "\n"
    "acl:1:/:@ops:PVEAuditor:\n"
    "acl:0:/pool/lab:ben@corp-ldap:PVEVMUser:\n"
    "acl:1:/pool/lab:ana@pve:PVEVMAdmin:\n"
    "acl:1:/storage/nas:ana@pve!ansible:BackupOperator:\n"
    "acl:1:/vms/105:ana@pve!ansible:PVEVMUser:\n";

TEST(UserConfig, ParsesEveryRecordKind) {
  auto parsed = parse_user_config(kCanonical);
  EXPECT_TRUE(parsed.warnings.empty());
  const UserConfig& c = parsed.config;
  const UserEntry* ana = c.user("ana@pve");
  ASSERT_NE(ana, nullptr);
  EXPECT_EQ(ana->comment, "storage team: lab");
  EXPECT_EQ(ana->groups, (std::set<std::string, std::less<>>{"ops"}));
  ASSERT_NE(c.token("ana@pve!ansible"), nullptr);
  EXPECT_TRUE(c.token("ana@pve!ansible")->privsep);
  EXPECT_EQ(c.token("ana@pve!ansible")->comment, "used by the playbooks");
  EXPECT_EQ(c.user("ben@corp-ldap")->expire, 1767225599);
  EXPECT_EQ(c.pools.at("lab").vms, (std::set<std::string, std::less<>>{"105", "204"}));
  EXPECT_EQ(c.roles.at("BackupOperator").size(), 4u);
  EXPECT_TRUE(c.roles.contains("PVEVMAdmin"));  // built-ins are always there
  EXPECT_EQ(c.acl.at("/pool/lab").users.at("ben@corp-ldap").at("PVEVMUser"), false);
  EXPECT_EQ(c.acl.at("/").groups.at("ops").at("PVEAuditor"), true);
}

TEST(UserConfig, PrintParseRoundTrip) {
  auto parsed = parse_user_config(kCanonical);
  EXPECT_EQ(print_user_config(parsed.config), kCanonical);
  EXPECT_EQ(parse_user_config(print_user_config(parsed.config)).config, parsed.config);
}

TEST(UserConfig, WritesAclsGroupedLikePve) {
  auto parsed = parse_user_config(
      "user:a@pve:1:0::::::\n"
      "user:b@pve:1:0::::::\n"
      "group:g::\n"
      "acl:1:/vms:b@pve:PVEVMUser:\n"
      "acl:1:/vms:a@pve,@g:PVEVMUser:\n"
      "acl:0:/vms:a@pve:PVEAuditor:\n"
      "acl:1:/:root@pam:Administrator:\n"
      "acl:1:/vms-old:a@pve:NoAccess:\n"
      "acl:1:/vms/100:a@pve:PVEAuditor,PVEVMUser:\n");
  EXPECT_TRUE(parsed.warnings.empty());
  std::string text = print_user_config(parsed.config);
  // Members sorted (groups as "@g"), propagate-0 lines first, paths depth-first, no root@pam ACL.
  EXPECT_NE(text.find("acl:0:/vms:a@pve:PVEAuditor:\n"
                      "acl:1:/vms:@g,a@pve,b@pve:PVEVMUser:\n"
                      "acl:1:/vms/100:a@pve:PVEAuditor,PVEVMUser:\n"
                      "acl:1:/vms-old:a@pve:NoAccess:\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("root@pam:Administrator"), std::string::npos);
  EXPECT_NE(text.find("user:root@pam:1:0:::::"), std::string::npos);  // implied root is written
}

TEST(UserConfig, SkipsBadLinesWithWarnings) {
  auto parsed = parse_user_config(
      "user:bad user:1:0:\n"
      "user:ok@pve:1:never:\n"
      "token:ghost@pve!t:0:1::\n"
      "role:R:VM.Audit,VM.Monitor:\n"
      "acl:1:/vms:nobody@pve:Missing:\n"
      "acl:1:/bad path:a@pve:PVEAuditor:\n"
      "frob:1:\n");
  EXPECT_EQ(parsed.warnings.size(), 7u);
  EXPECT_EQ(parsed.config.users.size(), 1u);  // only the implied root@pam
  EXPECT_EQ(parsed.config.roles.at("R"), (PrivSet{"VM.Audit"}));
  EXPECT_TRUE(parsed.config.acl.empty());
}

TEST(UserConfig, DisabledAndExpiredUsers) {
  auto c = parse_user_config("user:a@pve:0:0:\nuser:b@pve:1:100:\nuser:c@pve:1:0:\n").config;
  EXPECT_FALSE(c.user_active("a@pve", 50));
  EXPECT_TRUE(c.user_active("b@pve", 100));
  EXPECT_FALSE(c.user_active("b@pve", 101));
  EXPECT_TRUE(c.user_active("c@pve", 101));
  EXPECT_TRUE(c.user_active("root@pam", 101));
  EXPECT_FALSE(c.user_active("d@pve", 101));
}

TEST(UserConfig, Identifiers) {
  EXPECT_TRUE(split_userid("root@pam"));
  EXPECT_EQ(split_userid("a@b@pve")->name, "a@b");
  EXPECT_FALSE(split_userid("root"));
  EXPECT_FALSE(split_userid("ro ot@pam"));
  EXPECT_FALSE(split_userid("root@p"));  // realms have at least two characters
  EXPECT_FALSE(split_userid("root@1pam"));
  auto t = split_tokenid("ana@pve!ansible");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->first, "ana@pve");
  EXPECT_EQ(t->second, "ansible");
  EXPECT_FALSE(split_tokenid("ana@pve!"));
  EXPECT_FALSE(split_tokenid("ana@pve"));
}

TEST(UserConfig, AclPaths) {
  EXPECT_EQ(normalize_acl_path("/"), "/");
  EXPECT_EQ(normalize_acl_path("//vms//100/"), "/vms/100");
  EXPECT_EQ(normalize_acl_path("vms"), "/vms");
  EXPECT_FALSE(normalize_acl_path(""));
  EXPECT_FALSE(normalize_acl_path("/vms/1 0"));
  AclPathLess less;
  EXPECT_TRUE(less("/", "/vms"));
  EXPECT_TRUE(less("/vms", "/vms/100"));
  EXPECT_TRUE(less("/vms/100", "/vms-old"));
  EXPECT_FALSE(less("/vms", "/vms"));
}

TEST(UserConfig, TextEncoding) {
  EXPECT_EQ(encode_text("Web: 100% up"), "Web%3A 100%25 up");
  EXPECT_EQ(encode_text("Müller"), "M%C3%BCller");
  EXPECT_EQ(decode_text("M%C3%BCller"), "Müller");
}

}  // namespace
}  // namespace pvx::auth
