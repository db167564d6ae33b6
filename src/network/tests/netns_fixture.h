#pragma once
// Tests that change kernel network state run in a fresh network namespace of their own: the
// test thread enters it in SetUp and returns to the original one in TearDown, so nothing is
// left on the host. Child processes (ip, bridge, dnsmasq) started from the test thread inherit
// the namespace. Named namespaces for "other hosts" are made with `ip netns add` and removed
// in TearDown.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "base/process.h"

namespace pvx::network::testing {

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    original_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(original_, 0);
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) failed";
    run({"ip", "link", "set", "lo", "up"});
  }
  void TearDown() override {
    for (const auto& ns : named_) pvx::run_command({"ip", "netns", "del", ns}, {.check = false});
    if (original_ >= 0) {
      setns(original_, CLONE_NEWNET);
      close(original_);
    }
  }

  // Runs a command in the test's namespace; throws on failure.
  static std::string run(const std::vector<std::string>& argv) { return pvx::run_command(argv).out; }

  // iproute2's JSON output (`ip -j ...`, `bridge -j ...`, `tc -j ...`).
  static nlohmann::json ip_json(const std::vector<std::string>& argv) { return nlohmann::json::parse(run(argv)); }
  static nlohmann::json link_json(const std::string& name) {
    return ip_json({"ip", "-j", "-d", "link", "show", "dev", name})[0];
  }
  static bool has_flag(const nlohmann::json& link, const std::string& flag) {
    const auto& flags = link["flags"];
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  }

  // Whether `ip link add <probe> <args>` works in this kernel (minimal kernels lack bonding,
  // 802.1Q, bridge VLAN filtering, dummy links); the probe is removed again.
  static bool kernel_can(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"ip", "link", "add", "pvxprobe"};
    argv.insert(argv.end(), args.begin(), args.end());
    bool ok = pvx::run_command(argv, {.check = false}).exit_code == 0;
    pvx::run_command({"ip", "link", "del", "pvxprobe"}, {.check = false});
    return ok;
  }
  static bool kernel_has_vlan_filtering() { return kernel_can({"type", "bridge", "vlan_filtering", "1"}); }

  // Bridge VLANs of a port (or bridge) as `bridge -c -j vlan show` lists them: vid -> {pvid, untagged}.
  using VlanMap = std::map<int, std::pair<bool, bool>>;
  static VlanMap bridge_vlans(const std::string& dev) {
    VlanMap out;
    for (const auto& entry : ip_json({"bridge", "-compressvlans", "-j", "vlan", "show", "dev", dev})) {
      if (entry.value("ifname", "") != dev) continue;
      for (const auto& v : entry["vlans"]) {
        bool pvid = false, untagged = false;
        for (const auto& f : v.value("flags", nlohmann::json::array())) {
          pvid = pvid || f == "PVID";
          untagged = untagged || f == "Egress Untagged";
        }
        // iproute2 6.1 writes "vlan"/"vlanEnd", newer releases "vid"/"vidEnd".
        std::string key = v.contains("vlan") ? "vlan" : "vid";
        int first = v.at(key).get<int>();
        for (int vid = first; vid <= v.value(key + "End", first); ++vid) out[vid] = {pvid, untagged};
      }
    }
    return out;
  }

  // A named namespace ("another host"), removed at the end of the test.
  std::string add_named_netns(const std::string& name) {
    std::string full = name + "-" + std::to_string(getpid());
    pvx::run_command({"ip", "netns", "del", full}, {.check = false});
    run({"ip", "netns", "add", full});
    named_.push_back(full);
    run({"ip", "-n", full, "link", "set", "lo", "up"});
    return full;
  }

 private:
  int original_ = -1;
  std::vector<std::string> named_;
};

}  // namespace pvx::network::testing
