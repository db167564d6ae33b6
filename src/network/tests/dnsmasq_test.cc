#include "network/dnsmasq.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "base/process.h"
#include "network/tests/netns_fixture.h"

namespace pvx::network {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

Ipv4Net net(const std::string& text) {
  auto n = parse_ipv4_cidr(text);
  if (!n) throw std::runtime_error("bad test subnet " + text);
  return *n;
}

template <typename F>
bool eventually(F condition, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return condition();
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Running and not a zombie.
bool running(int pid) {
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

TEST(DnsmasqAddresses, GatewayIsTheFirstHost) {
  EXPECT_EQ(gateway_address(net("10.187.0.0/24")), "10.187.0.1");
  EXPECT_EQ(gateway_address(net("10.187.0.1/24")), "10.187.0.1");
  EXPECT_EQ(gateway_address(net("172.31.4.77/16")), "172.31.0.1");
  EXPECT_EQ(gateway_address(net("192.168.187.128/25")), "192.168.187.129");
}

TEST(DnsmasqAddresses, RangeFromHundredOrTheUpperHalf) {
  using Range = std::pair<std::string, std::string>;
  EXPECT_EQ(dhcp_range(net("10.187.0.0/24")), Range("10.187.0.100", "10.187.0.254"));
  EXPECT_EQ(dhcp_range(net("10.187.0.1/24")), Range("10.187.0.100", "10.187.0.254"));
  EXPECT_EQ(dhcp_range(net("10.187.0.0/16")), Range("10.187.0.100", "10.187.255.254"));
  EXPECT_EQ(dhcp_range(net("10.187.0.128/25")), Range("10.187.0.192", "10.187.0.254"));
  EXPECT_EQ(dhcp_range(net("10.187.0.16/28")), Range("10.187.0.24", "10.187.0.30"));
  EXPECT_EQ(dhcp_range(net("10.187.0.4/30")), Range("10.187.0.6", "10.187.0.6"));
}

TEST(DnsmasqAddresses, UnusableSubnetsAreRejected) {
  for (const char* bad : {"10.187.0.0/31", "10.187.0.1/32", "0.0.0.0/0"}) {
    try {
      dhcp_range(net(bad));
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 400) << bad;
    }
    EXPECT_THROW(gateway_address(net(bad)), Error) << bad;
  }
}

TEST(DnsmasqArgv, ForegroundNoConfigOneBridgeUnprivileged) {
  auto argv = dnsmasq_argv({"vmbr0", net("10.187.0.0/24"), "/var/lib/pvx/network"});
  ASSERT_FALSE(argv.empty());
  EXPECT_TRUE(argv[0] == "/usr/sbin/dnsmasq" || argv[0] == "dnsmasq") << argv[0];
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  // The user depends on the host's accounts: never root.
  auto user = std::find_if(rest.begin(), rest.end(), [](const std::string& a) { return a.rfind("--user=", 0) == 0; });
  ASSERT_NE(user, rest.end());
  EXPECT_TRUE(*user == "--user=dnsmasq" || *user == "--user=nobody") << *user;
  rest.erase(user);
  EXPECT_EQ(rest, (std::vector<std::string>{
                      "--keep-in-foreground",
                      "--conf-file=/dev/null",
                      "--bind-dynamic",
                      "--interface=vmbr0",
                      "--except-interface=lo",
                      "--listen-address=10.187.0.1",
                      "--dhcp-range=10.187.0.100,10.187.0.254,255.255.255.0,1h",
                      "--dhcp-leasefile=/var/lib/pvx/network/dnsmasq-vmbr0.leases",
                      "--pid-file=/var/lib/pvx/network/dnsmasq-vmbr0.pid",
                      "--dhcp-authoritative",
                      "--dhcp-no-override",
                      "--strict-order",
                      "--log-facility=-",
                      "--dhcp-option=option:router,10.187.0.1",
                      "--dhcp-option=option:dns-server,10.187.0.1",
                  }));
  auto small = dnsmasq_argv({"vmbr1", net("10.187.0.128/25"), "/run/x"});
  EXPECT_NE(std::find(small.begin(), small.end(), "--dhcp-range=10.187.0.192,10.187.0.254,255.255.255.128,1h"),
            small.end());
}

TEST(DnsmasqArgv, BridgeNamesCannotLeaveTheRunDirectory) {
  for (const char* bad : {"", "..", "../etc", "vm br0", "a-very-long-bridge-name"}) {
    EXPECT_THROW(dnsmasq_argv({bad, net("10.187.0.0/24"), "/run/x"}), Error) << bad;
  }
}

class DnsmasqKernel : public testing::NetnsTest {
 protected:
  void SetUp() override {
    NetnsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!command_exists("dnsmasq") && ::access("/usr/sbin/dnsmasq", X_OK) != 0) GTEST_SKIP() << "dnsmasq missing";
    if (!command_exists("busybox")) GTEST_SKIP() << "busybox (udhcpc) missing";
    char tmpl[] = "/tmp/pvx-dnsmasq-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    run_dir_ = dir_ / "run";  // missing: the supervisor creates it
    script_ = dir_ / "udhcpc.sh";
    std::ofstream(script_) << "#!/bin/sh\n"
                              "[ \"$1\" = bound ] && ip addr add \"$ip/$mask\" dev \"$interface\"\n"
                              "exit 0\n";
    fs::permissions(script_, fs::perms::owner_all);

    run({"ip", "link", "add", "pvxbr0", "type", "bridge"});
    run({"ip", "addr", "add", "10.187.0.1/24", "dev", "pvxbr0"});
    run({"ip", "link", "set", "pvxbr0", "up"});
  }
  void TearDown() override {
    NetnsTest::TearDown();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  DnsmasqConfig config() const { return {"pvxbr0", net("10.187.0.0/24"), run_dir_}; }

  // Another host with its NIC in the bridge and no address yet.
  std::string add_guest(const std::string& name) {
    std::string ns = add_named_netns(name);
    std::string port = "v" + name;
    run({"ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns});
    run({"ip", "link", "set", port, "master", "pvxbr0", "up"});
    run({"ip", "-n", ns, "link", "set", "eth0", "up"});
    return ns;
  }

  // DHCP in the guest's namespace; returns the address it got ("" on failure).
  std::string dhcp(const std::string& ns, const std::string& hostname) {
    auto r = run_command({"ip", "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "8", "-T",
                          "1", "-x", "hostname:" + hostname, "-s", script_.string()},
                         {.timeout = 20s, .check = false});
    if (r.exit_code != 0) {
      ADD_FAILURE() << "udhcpc in " << ns << " failed: " << r.out << r.err;
      return "";
    }
    auto doc = nlohmann::json::parse(run({"ip", "-j", "-n", ns, "-4", "addr", "show", "dev", "eth0"}));
    for (const auto& link : doc) {
      for (const auto& a : link.value("addr_info", nlohmann::json::array())) {
        EXPECT_EQ(a.value("prefixlen", 0), 24);
        return a.value("local", "");
      }
    }
    ADD_FAILURE() << "no address on eth0 in " << ns;
    return "";
  }

  static bool in_range(const std::string& ip) {
    auto n = parse_ipv4_cidr(ip + "/32");
    unsigned base = (10u << 24) | (187u << 16);
    return n && n->address >= base + 100 && n->address <= base + 254;
  }

  bool dns_listening() {
    return run({"ss", "-lunH", "src", "10.187.0.1:53"}).find("10.187.0.1:53") != std::string::npos;
  }

  fs::path dir_, run_dir_, script_;
};

TEST_F(DnsmasqKernel, LeasesAddressesAnswersDnsAndComesBackAfterAKill) {
  auto a = add_guest("dhcp-a");
  auto b = add_guest("dhcp-b");
  DnsmasqSupervisor supervisor;
  supervisor.update({config()});
  int first = supervisor.pid("pvxbr0");
  ASSERT_GT(first, 0);
  EXPECT_EQ(supervisor.pid("vmbr7"), 0);
  ASSERT_TRUE(eventually([&] { return dns_listening(); })) << "dnsmasq does not listen on 10.187.0.1:53";
  EXPECT_TRUE(fs::is_directory(run_dir_));

  std::string ip_a = dhcp(a, "guest-a");
  std::string ip_b = dhcp(b, "guest-b");
  EXPECT_TRUE(in_range(ip_a)) << ip_a;
  EXPECT_TRUE(in_range(ip_b)) << ip_b;
  EXPECT_NE(ip_a, ip_b);
  auto ping = run_command({"ip", "netns", "exec", a, "busybox", "ping", "-c1", "-W2", ip_b}, {.check = false});
  EXPECT_EQ(ping.exit_code, 0) << ping.out << ping.err;

  std::string leases = slurp(run_dir_ / "dnsmasq-pvxbr0.leases");
  EXPECT_NE(leases.find(" " + ip_a + " guest-a "), std::string::npos) << leases;
  EXPECT_NE(leases.find(" " + ip_b + " guest-b "), std::string::npos) << leases;
  EXPECT_EQ(std::stoi(slurp(run_dir_ / "dnsmasq-pvxbr0.pid")), first);

  // DNS on the gateway: names of DHCP clients resolve.
  auto lookup = run_command({"ip", "netns", "exec", b, "busybox", "nslookup", "-type=a", "guest-a", "10.187.0.1"},
                            {.timeout = 10s, .check = false});
  EXPECT_NE(lookup.out.find("Address: " + ip_a), std::string::npos) << lookup.out << lookup.err;

  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return supervisor.pid("pvxbr0") > 0 && supervisor.pid("pvxbr0") != first; }))
      << "dnsmasq was not restarted";
  ASSERT_TRUE(eventually([&] { return dns_listening(); }));
  auto c = add_guest("dhcp-c");
  std::string ip_c = dhcp(c, "guest-c");
  EXPECT_TRUE(in_range(ip_c)) << ip_c;
  EXPECT_TRUE(ip_c != ip_a && ip_c != ip_b) << "leases were forgotten across the restart: " << ip_c;
}

TEST_F(DnsmasqKernel, UpdateKeepsRestartsAndStopsInstances) {
  DnsmasqSupervisor supervisor;
  supervisor.update({config()});
  int first = supervisor.pid("pvxbr0");
  ASSERT_GT(first, 0);
  supervisor.update({config()});
  EXPECT_EQ(supervisor.pid("pvxbr0"), first) << "an unchanged config must not restart dnsmasq";

  auto moved = config();
  moved.run_dir = dir_ / "elsewhere";
  supervisor.update({moved});
  int second = supervisor.pid("pvxbr0");
  EXPECT_GT(second, 0);
  EXPECT_NE(second, first);
  EXPECT_FALSE(running(first));
  ASSERT_TRUE(eventually([&] { return fs::exists(moved.run_dir / "dnsmasq-pvxbr0.pid"); }));

  EXPECT_THROW(supervisor.update({moved, moved}), Error);
  EXPECT_EQ(supervisor.pid("pvxbr0"), second) << "a rejected update changes nothing";

  supervisor.update({});
  EXPECT_EQ(supervisor.pid("pvxbr0"), 0);
  EXPECT_FALSE(running(second));
}

TEST_F(DnsmasqKernel, StopsADnsmasqLeftByAPreviousDaemon) {
  // A dnsmasq started like pvxd's but daemonized, as if its pvxd had gone away.
  auto argv = dnsmasq_argv(config());
  std::erase(argv, "--keep-in-foreground");
  std::replace(argv.begin(), argv.end(), std::string("--log-facility=-"), std::string("--log-facility=/dev/null"));
  fs::create_directories(run_dir_);
  run_command(argv, {.timeout = 10s});
  int stale = 0;
  ASSERT_TRUE(eventually([&] {
    std::string text = slurp(run_dir_ / "dnsmasq-pvxbr0.pid");
    stale = text.empty() ? 0 : std::stoi(text);
    return stale > 0 && running(stale);
  }));
  struct KillAtEnd {
    int& pid;
    ~KillAtEnd() {
      if (pid > 0 && running(pid)) ::kill(pid, SIGKILL);
    }
  } guard{stale};
  ASSERT_TRUE(eventually([&] { return dns_listening(); }));

  DnsmasqSupervisor supervisor;
  supervisor.update({config()});
  int pid = supervisor.pid("pvxbr0");
  EXPECT_GT(pid, 0);
  EXPECT_NE(pid, stale);
  EXPECT_FALSE(running(stale)) << "the stale dnsmasq still runs";
  // The new one binds the sockets the old one held, and stays up.
  ASSERT_TRUE(eventually([&] { return dns_listening(); }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(supervisor.pid("pvxbr0"), pid);
}

}  // namespace
}  // namespace pvx::network
