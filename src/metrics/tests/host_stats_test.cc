#include "metrics/host_stats.h"

#include <gtest/gtest.h>

namespace pvx::metrics {

TEST(HostStats, ParsesCpuinfo) {
  std::string text =
      "processor\t: 0\nmodel name\t: Test CPU @ 2.00GHz\nphysical id\t: 0\ncpu cores\t: 2\n"
      "cpu MHz\t\t: 1999.999\nflags\t\t: fpu vme vmx sse\n\n"
      "processor\t: 1\nmodel name\t: Test CPU @ 2.00GHz\nphysical id\t: 0\ncpu cores\t: 2\n";
  CpuInfo c = parse_cpuinfo(text);
  EXPECT_EQ(c.cpus, 2);
  EXPECT_EQ(c.sockets, 1);
  EXPECT_EQ(c.cores, 2);
  EXPECT_EQ(c.model, "Test CPU @ 2.00GHz");
  EXPECT_EQ(c.mhz, "1999.999");
  EXPECT_TRUE(c.hvm);
}

TEST(HostStats, ParsesMeminfo) {
  std::string text = "MemTotal: 1000 kB\nMemFree: 200 kB\nMemAvailable: 600 kB\nSwapTotal: 50 kB\nSwapFree: 20 kB\n";
  MemoryInfo m = parse_meminfo(text, false);
  EXPECT_EQ(m.total, 1000u * 1024);
  EXPECT_EQ(m.used, 400u * 1024);
  EXPECT_EQ(m.available, 600u * 1024);
  MemoryInfo s = parse_meminfo(text, true);
  EXPECT_EQ(s.total, 50u * 1024);
  EXPECT_EQ(s.used, 30u * 1024);
}

TEST(HostStats, ReadsThisHost) {
  HostStatus st = read_host_status("/");
  EXPECT_GT(st.memory.total, 0u);
  EXPECT_GT(st.rootfs_total, 0u);
  EXPECT_GT(st.cpuinfo.cpus, 0);
  EXPECT_EQ(st.sysname, "Linux");
  EXPECT_FALSE(st.loadavg[0].empty());
  EXPECT_GE(st.cpu, 0.0);
  EXPECT_LE(st.cpu, 1.0);
}

}  // namespace pvx::metrics
