#include "network/nat.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/process.h"
#include "network/tests/netns_fixture.h"

namespace pvx::network {
namespace {

Ipv4Net net(const std::string& text) {
  auto n = parse_ipv4_cidr(text);
  if (!n) throw std::runtime_error("bad test subnet " + text);
  return *n;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(NatParse, AcceptsStrictCidr) {
  auto n = parse_ipv4_cidr("10.1.2.3/24");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->address, (10u << 24) | (1u << 16) | (2u << 8) | 3u);
  EXPECT_EQ(n->prefix, 24);
  EXPECT_EQ(n->text(), "10.1.2.3/24");
  EXPECT_EQ(parse_ipv4_cidr("0.0.0.0/0")->text(), "0.0.0.0/0");
  EXPECT_EQ(parse_ipv4_cidr("255.255.255.255/32")->text(), "255.255.255.255/32");
  EXPECT_EQ(parse_ipv4_cidr("192.168.0.0/16")->prefix, 16);
}

TEST(NatParse, RejectsMalformed) {
  for (const char* bad : {"", "10.1.2.3", "10.1.2.3/", "/24", "10.1.2/24", "10.1.2.3.4/24", "256.1.1.1/24",
                          "10.1.2.3/33", "10.1.2.3/-1", "-1.2.3.4/8", "+1.2.3.4/8", "10..2.3/24", "a.b.c.d/24",
                          "10.1.2.3/24x", " 10.1.2.3/24", "10.1.2.3 /24", "010.1.2.3/24", "10.1.2.3/024",
                          "1000.1.2.3/8", "10.1.2.3/24/1"}) {
    EXPECT_FALSE(parse_ipv4_cidr(bad)) << bad;
  }
}

TEST(NatParse, Overlaps) {
  EXPECT_TRUE(net("10.187.0.0/24").overlaps(net("10.187.0.77/32")));
  EXPECT_TRUE(net("10.187.0.0/24").overlaps(net("10.0.0.0/8")));
  EXPECT_TRUE(net("10.0.0.0/8").overlaps(net("10.187.0.0/24")));
  EXPECT_FALSE(net("10.187.0.0/24").overlaps(net("10.187.1.0/24")));
  EXPECT_TRUE(net("10.187.0.0/24").overlaps(net("0.0.0.0/0")));
  EXPECT_TRUE(net("10.187.0.5/24").overlaps(net("10.187.0.9/24"))) << "host bits are ignored";
}

TEST(NatChooseSubnet, FirstCandidateOnAnEmptyHost) {
  EXPECT_EQ(choose_nat_subnet({})->text(), "10.187.0.0/24");
}

TEST(NatChooseSubnet, SkipsCollisions) {
  EXPECT_EQ(choose_nat_subnet({net("10.187.0.0/24")})->text(), "10.187.1.0/24");
  EXPECT_EQ(choose_nat_subnet({net("10.187.0.10/32"), net("10.187.1.1/24")})->text(), "10.187.2.0/24");
  // A host route inside a candidate is enough to skip it.
  EXPECT_EQ(choose_nat_subnet({net("10.187.0.200/32")})->text(), "10.187.1.0/24");
}

TEST(NatChooseSubnet, WideRoutesCoverManyCandidates) {
  EXPECT_EQ(choose_nat_subnet({net("10.187.0.0/16")})->text(), "172.31.0.0/24");
  EXPECT_EQ(choose_nat_subnet({net("10.0.0.0/8"), net("172.16.0.0/12")})->text(), "192.168.187.0/24");
  EXPECT_EQ(choose_nat_subnet({net("10.187.0.0/17")})->text(), "10.187.128.0/24");
}

TEST(NatChooseSubnet, DefaultRouteIsIgnored) {
  EXPECT_EQ(choose_nat_subnet({net("0.0.0.0/0")})->text(), "10.187.0.0/24");
  EXPECT_EQ(choose_nat_subnet({net("0.0.0.0/0"), net("10.187.0.1/24")})->text(), "10.187.1.0/24");
}

TEST(NatChooseSubnet, NulloptWhenAllAreTaken) {
  EXPECT_FALSE(choose_nat_subnet({net("10.0.0.0/8"), net("172.16.0.0/12"), net("192.168.0.0/16")}));
  // One candidate left at the very end.
  EXPECT_EQ(choose_nat_subnet({net("10.0.0.0/8"), net("172.16.0.0/12"), net("192.168.0.0/17"),
                               net("192.168.128.0/18"), net("192.168.192.0/19"), net("192.168.224.0/20"),
                               net("192.168.240.0/21"), net("192.168.248.0/22"), net("192.168.252.0/23"),
                               net("192.168.254.0/24")})
                ->text(),
            "192.168.255.0/24");
}

TEST(NatRuleset, MatchesGolden) {
  std::string got = nat_ruleset({{"vmbr0", net("10.187.0.0/24")}, {"vmbr1", net("10.187.1.1/24")}});
  std::string want = read_file(std::string(PVX_NETWORK_TESTDATA) + "/nat/two_bridges.nft");
  EXPECT_EQ(got, want);
}

TEST(NatRuleset, NoBridgesOnlyDeletesTheTable) {
  EXPECT_EQ(nat_ruleset({}), "table ip pvx_nat {}\ndelete table ip pvx_nat\n");
}

TEST(NatRuleset, RejectsNamesThatCannotBeInterfaces) {
  for (const char* bad : {"", "vm\"br0", "vmbr0 accept", "a-very-long-bridge-name"}) {
    try {
      nat_ruleset({{bad, net("10.187.0.0/24")}});
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 400);
    }
  }
}

class NatKernel : public testing::NetnsTest {
 protected:
  static nlohmann::json nft_table() {
    auto r = run_command({"nft", "-j", "list", "table", "ip", "pvx_nat"}, {.check = false});
    if (r.exit_code != 0) return nullptr;
    return nlohmann::json::parse(r.out);
  }
  static std::vector<nlohmann::json> objects(const nlohmann::json& doc, const std::string& kind) {
    std::vector<nlohmann::json> out;
    for (const auto& entry : doc.at("nftables")) {
      if (entry.contains(kind)) out.push_back(entry.at(kind));
    }
    return out;
  }
  static std::string read_forwarding() {
    std::string v;
    std::ifstream("/proc/sys/net/ipv4/ip_forward") >> v;
    return v;
  }
  static void write_forwarding(const std::string& v) { std::ofstream("/proc/sys/net/ipv4/ip_forward") << v << "\n"; }

  static std::vector<std::string> ping_argv(const std::string& ns, const std::string& target) {
    std::vector<std::string> argv{"ip", "netns", "exec", ns};
    if (command_exists("ping")) argv.push_back("ping");
    else argv.insert(argv.end(), {"busybox", "ping"});
    argv.insert(argv.end(), {"-c1", "-W2", target});
    return argv;
  }
  static bool ping(const std::string& ns, const std::string& target) {
    return run_command(ping_argv(ns, target), {.timeout = std::chrono::seconds(10), .check = false}).exit_code == 0;
  }
};

TEST_F(NatKernel, ApplyCreatesTheTableIdempotentlyAndRemovesIt) {
  write_forwarding("0");
  apply_nat({{"vmbr0", net("10.187.0.1/24")}, {"vmbr1", net("10.187.1.0/24")}});
  EXPECT_EQ(read_forwarding(), "1");

  for (int round = 0; round < 2; ++round) {
    auto doc = nft_table();
    ASSERT_FALSE(doc.is_null()) << "table missing";
    auto chains = objects(doc, "chain");
    ASSERT_EQ(chains.size(), 2u);
    std::map<std::string, nlohmann::json> by_name;
    for (const auto& c : chains) by_name[c.at("name")] = c;
    EXPECT_EQ(by_name["postrouting"].value("type", ""), "nat");
    EXPECT_EQ(by_name["postrouting"].value("hook", ""), "postrouting");
    EXPECT_EQ(by_name["postrouting"].value("policy", ""), "accept");
    EXPECT_EQ(by_name["forward"].value("type", ""), "filter");
    EXPECT_EQ(by_name["forward"].value("hook", ""), "forward");
    EXPECT_EQ(by_name["forward"].value("policy", ""), "accept");

    int masquerades = 0;
    std::string post_text;
    for (const auto& rule : objects(doc, "rule")) {
      if (rule.at("chain") != "postrouting") continue;
      post_text += rule.at("expr").dump() + "\n";
      for (const auto& e : rule.at("expr")) masquerades += e.contains("masquerade");
    }
    EXPECT_EQ(masquerades, 2) << "after apply #" << round + 1;
    EXPECT_NE(post_text.find(R"({"prefix":{"addr":"10.187.0.0","len":24}})"), std::string::npos) << post_text;
    EXPECT_NE(post_text.find(R"({"prefix":{"addr":"10.187.1.0","len":24}})"), std::string::npos) << post_text;
    apply_nat({{"vmbr0", net("10.187.0.1/24")}, {"vmbr1", net("10.187.1.0/24")}});
  }

  apply_nat({});
  EXPECT_TRUE(nft_table().is_null()) << "table left behind";
  apply_nat({});  // nothing to delete: still fine
}

TEST_F(NatKernel, GuestsReachAnotherNetworkOnlyThroughMasquerade) {
  // The NAT bridge, as pvx sets it up.
  run({"ip", "link", "add", "pvxbr0", "type", "bridge"});
  run({"ip", "addr", "add", "10.187.0.1/24", "dev", "pvxbr0"});
  run({"ip", "link", "set", "pvxbr0", "up"});
  // A guest behind it.
  std::string inside = add_named_netns("inside");
  run({"ip", "link", "add", "vin", "type", "veth", "peer", "name", "eth0", "netns", inside});
  run({"ip", "link", "set", "vin", "master", "pvxbr0", "up"});
  run({"ip", "-n", inside, "addr", "add", "10.187.0.50/24", "dev", "eth0"});
  run({"ip", "-n", inside, "link", "set", "eth0", "up"});
  run({"ip", "-n", inside, "route", "add", "default", "via", "10.187.0.1"});
  // Another host on the uplink, which knows no way back to the private subnet.
  std::string outside = add_named_netns("outside");
  run({"ip", "link", "add", "vout", "type", "veth", "peer", "name", "eth0", "netns", outside});
  run({"ip", "addr", "add", "198.51.100.1/24", "dev", "vout"});
  run({"ip", "link", "set", "vout", "up"});
  run({"ip", "-n", outside, "addr", "add", "198.51.100.2/24", "dev", "eth0"});
  run({"ip", "-n", outside, "link", "set", "eth0", "up"});

  ASSERT_TRUE(ping(inside, "10.187.0.1")) << "guest cannot reach its gateway";
  // Forwarding alone is not enough: the replies have no route back.
  write_forwarding("1");
  EXPECT_FALSE(ping(inside, "198.51.100.2")) << "reached outside without NAT: the test proves nothing";

  apply_nat({{"pvxbr0", net("10.187.0.0/24")}});
  EXPECT_TRUE(ping(inside, "198.51.100.2"));

  // Even with a route to the private subnet, the outside cannot open connections into it.
  run({"ip", "-n", outside, "route", "add", "10.187.0.0/24", "via", "198.51.100.1"});
  EXPECT_FALSE(ping(outside, "10.187.0.50"));
  EXPECT_TRUE(ping(inside, "198.51.100.2")) << "replies must still come back";

  apply_nat({});
  EXPECT_TRUE(ping(outside, "10.187.0.50")) << "without pvx's table the route works: the reject was ours";
}

}  // namespace
}  // namespace pvx::network
