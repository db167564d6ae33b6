#include "guest/lxc/lxc_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "guest/guest_config.h"

namespace pvx::guest::lxc {
namespace {

namespace fs = std::filesystem;
const fs::path kGoldenDir = fs::path(PVX_LXC_GOLDEN) / "lxc_config";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string render_golden(const fs::path& conf_file) {
  const std::int64_t vmid = conf_file.stem() == "privileged-basic" ? 100 : conf_file.stem() == "unprivileged-mps" ? 101 : 102;
  GuestConfig c = parse_guest_config(slurp(conf_file));
  LxcRenderInput in;
  in.vmid = vmid;
  in.conf = &c.main;
  in.ostype = c.main.get_or("ostype", "debian");
  const std::string run = "/run/pvx/lxc/" + std::to_string(vmid);
  in.host.host_cpus = 4;
  fs::path host_file = conf_file;
  host_file.replace_extension(".host");
  if (fs::exists(host_file) && slurp(host_file).find("cgroup=2") != std::string::npos) in.host.cgroup_version = 2;
  auto mps = mount_points(c.main);
  in.rootfs = mps.at(0).kind == MountKind::Bind ? fs::path(mps[0].volume) : fs::path(run + "/rootfs");
  for (std::size_t i = 1; i < mps.size(); ++i) {
    std::string host = mps[i].kind == MountKind::Bind ? mps[i].volume : run + "/mnt/" + mps[i].key;
    in.mounts.push_back({mps[i], host, false});
  }
  in.log_file = run + "/lxc.log";
  return render_lxc_config(in);
}

TEST(LxcConfigGolden, EveryCaseMatches) {
  const bool update = std::getenv("PVX_UPDATE_GOLDEN") && std::string(std::getenv("PVX_UPDATE_GOLDEN")) == "1";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(kGoldenDir)) {
    if (entry.path().extension() != ".conf") continue;
    ++cases;
    fs::path expected_file = entry.path();
    expected_file.replace_extension(".lxc");
    std::string got = render_golden(entry.path());
    if (update) {
      std::ofstream(expected_file) << got;
      continue;
    }
    ASSERT_TRUE(fs::exists(expected_file)) << expected_file;
    EXPECT_EQ(got, slurp(expected_file)) << "golden case " << entry.path().filename();
  }
  EXPECT_GE(cases, 3);
}

TEST(LxcConfig, RawLinesComeLastInFileOrder) {
  GuestConfig c = parse_guest_config("rootfs: /srv/r\nlxc.b: 1\nlxc.a: 2\n");
  LxcRenderInput in{.vmid = 5, .conf = &c.main, .ostype = "debian", .rootfs = "/srv/r"};
  std::string out = render_lxc_config(in);
  EXPECT_TRUE(out.ends_with("lxc.b = 1\nlxc.a = 2\n")) << out;
}

TEST(LxcConfig, DevicePassthroughIsAClearError) {
  GuestConfig c = parse_guest_config("rootfs: /srv/r\ndev0: /dev/ttyUSB0\n");
  LxcRenderInput in{.vmid = 5, .conf = &c.main, .ostype = "debian", .rootfs = "/srv/r"};
  try {
    render_lxc_config(in);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dev0"), std::string::npos);
  }
}

TEST(CtConfig, MountPointPathsMustStayInside) {
  EXPECT_THROW(parse_mount_point("mp0", "local:101/vm-101-disk-1.raw,mp=/srv/../../etc"), Error);
  EXPECT_THROW(parse_mount_point("mp0", "local:101/vm-101-disk-1.raw,mp=relative"), Error);
  EXPECT_THROW(parse_mount_point("mp0", "/srv/a/../b,mp=/x"), Error);
  EXPECT_THROW(parse_mount_point("mp0", "local:1,mp=/x,mountoptions=exec"), Error);
  auto m = parse_mount_point("mp3", "local:4,mp=/data,backup=1");
  EXPECT_TRUE(m.is_new_volume());
  EXPECT_EQ(m.new_volume_storage(), "local");
  EXPECT_EQ(m.new_volume_gib(), 4);
  EXPECT_TRUE(m.backup);
  EXPECT_EQ(parse_mount_point("mp1", "/dev/sdb1,mp=/d").kind, MountKind::Device);
  EXPECT_EQ(parse_mount_point("mp1", "/srv/x,mp=/d").kind, MountKind::Bind);
}

TEST(CtConfig, NetRoundTrip) {
  auto n = parse_ct_net("net0", "name=eth0,bridge=vmbr0,hwaddr=bc:24:11:00:00:01,ip=10.0.0.2/24,gw=10.0.0.1,tag=5,type=veth");
  EXPECT_EQ(n.hwaddr, "BC:24:11:00:00:01");
  EXPECT_EQ(n.tag.value_or(0), 5);
  EXPECT_EQ(print_ct_net(n), "name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.2/24,tag=5,type=veth");
  EXPECT_THROW(parse_ct_net("net0", "bridge=vmbr0"), Error);
  EXPECT_THROW(parse_ct_net("net0", "name=eth0,ip=300.0.0.1/24"), Error);
}

}  // namespace
}  // namespace pvx::guest::lxc
