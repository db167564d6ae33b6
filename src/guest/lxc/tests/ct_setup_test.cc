// Container setup on small fake root filesystems: detection, the files each distribution gets,
// and that a hostile rootfs cannot make setup touch host files.
#include "guest/lxc/ct_setup.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "base/error.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc {
namespace {

namespace fs = std::filesystem;

// A temporary directory holding `rootfs/` (the container) and `host/` (files that must never
// change), removed afterwards.
class Tree {
 public:
  Tree() {
    std::string tmpl = (fs::temp_directory_path() / "pvx-ctsetup-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    base_ = tmpl;
    fs::create_directories(root() / "etc");
    fs::create_directories(host());
    put_host("resolv.conf", "search host.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n");
  }
  ~Tree() {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  fs::path base() const { return base_; }
  fs::path root() const { return base_ / "rootfs"; }
  fs::path host() const { return base_ / "host"; }

  void put(const std::string& path, const std::string& data) {
    const fs::path p = root() / path.substr(1);
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << data;
  }
  void put_host(const std::string& name, const std::string& data) { std::ofstream(host() / name, std::ios::binary) << data; }
  void link(const std::string& target, const std::string& path) {
    const fs::path p = root() / path.substr(1);
    fs::create_directories(p.parent_path());
    fs::create_symlink(target, p);
  }
  std::string get(const std::string& path) const { return slurp(root() / path.substr(1)); }
  bool has(const std::string& path) const { return fs::exists(fs::symlink_status(root() / path.substr(1))); }
  struct stat stat_of(const std::string& path) const {
    struct stat st {};
    ::lstat((root() / path.substr(1)).c_str(), &st);
    return st;
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  SetupParams params() const {
    SetupParams p;
    p.hostname = "ct100";
    p.root_uid = ::geteuid();
    p.root_gid = ::getegid();
    p.host_resolv_conf = host() / "resolv.conf";
    return p;
  }

 private:
  fs::path base_;
};

SetupNet net0(std::string ip, std::string gw = "", std::string ip6 = "", std::string gw6 = "") {
  return SetupNet{0, "eth0", std::move(ip), std::move(gw), std::move(ip6), std::move(gw6)};
}

void debian12(Tree& t) {
  t.put("/etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n");
  t.put("/etc/debian_version", "12.5\n");
  t.put("/sbin/ifup", "ELF");
}

// ---------------------------------------------------------------- detection

TEST(CtSetupDetect, OsReleaseIdAndAliases) {
  Tree t;
  t.put("/etc/os-release", "NAME=\"Rocky Linux\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n");
  EXPECT_EQ(detect_ostype(t.root()), "centos");
  t.put("/etc/os-release", "ID='opensuse-leap'\n");
  EXPECT_EQ(detect_ostype(t.root()), "opensuse");
  t.put("/etc/os-release", "# comment\nID=ubuntu\n");
  EXPECT_EQ(detect_ostype(t.root()), "ubuntu");
  t.put("/etc/os-release", "ID=arch\n");
  EXPECT_EQ(detect_ostype(t.root()), "archlinux");
}

TEST(CtSetupDetect, MarkerFilesWhenIdIsUnknown) {
  struct Case {
    const char* file;
    const char* type;
  };
  for (auto c : {Case{"/etc/debian_version", "debian"}, Case{"/etc/devuan_version", "devuan"},
                 Case{"/etc/SuSE-release", "opensuse"}, Case{"/etc/fedora-release", "fedora"},
                 Case{"/etc/redhat-release", "centos"}, Case{"/etc/arch-release", "archlinux"},
                 Case{"/etc/alpine-release", "alpine"}, Case{"/etc/gentoo-release", "gentoo"}}) {
    Tree t;
    t.put(c.file, "x\n");
    EXPECT_EQ(detect_ostype(t.root()), c.type) << c.file;
  }
  Tree t;
  t.put("/etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n");
  t.put("/etc/debian_version", "bookworm/sid\n");
  t.put("/etc/os-release", "ID=someubuntuspin\n");
  EXPECT_EQ(detect_ostype(t.root()), "ubuntu");
  Tree nix;
  fs::create_directories(nix.root() / "nix/store");
  EXPECT_EQ(detect_ostype(nix.root()), "nixos");
}

TEST(CtSetupDetect, IdLikeNamesTheFamily) {
  Tree t;
  t.put("/etc/os-release", "ID=busybox\nID_LIKE=debian\n");
  EXPECT_EQ(detect_ostype(t.root()), "debian");
  t.put("/etc/os-release", "ID=\"weird\"\nID_LIKE=\"suse opensuse\"\n");
  EXPECT_EQ(detect_ostype(t.root()), "opensuse");
}

TEST(CtSetupDetect, UnknownDistributionIsAnErrorNamingOstype) {
  Tree t;
  t.put("/etc/os-release", "ID=plan9\nID_LIKE=bell-labs\n");
  try {
    detect_ostype(t.root());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 500);
    EXPECT_NE(std::string(e.what()).find("unable to detect OS distribution"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("plan9"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("ostype"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("unmanaged"), std::string::npos);
  }
  // The admin's ostype is the fallback then; "unmanaged" does nothing at all.
  auto p = t.params();
  p.ostype = "unmanaged";
  EXPECT_NO_THROW(setup_at_start(t.root(), p));
  EXPECT_FALSE(t.has("/etc/hostname"));
  p.ostype = "archlinux";
  p.nets = {net0("10.0.0.2/24")};
  setup_at_start(t.root(), p);
  EXPECT_TRUE(t.has("/etc/systemd/network/eth0.network"));
}

TEST(CtSetupDetect, NoOsReleaseIsUnmanagedButNoEtcIsAnError) {
  Tree t;
  EXPECT_EQ(detect_ostype(t.root()), "unmanaged");
  fs::remove(t.root() / "etc");
  EXPECT_THROW(detect_ostype(t.root()), Error);
}

TEST(CtSetupDetect, OsReleaseParsing) {
  auto v = setup::parse_os_release("ID=\"a\\\"b\"\nNAME='x y'\n  VERSION_ID=12 # c\nbad line\n=x\n");
  EXPECT_EQ(v["ID"], "a\"b");
  EXPECT_EQ(v["NAME"], "x y");
  EXPECT_EQ(v["VERSION_ID"], "12");
  EXPECT_EQ(v.size(), 3u);
}

// ---------------------------------------------------------------- Debian family

TEST(CtSetupDebian, FreshFilesAtStart) {
  Tree t;
  debian12(t);
  auto p = t.params();
  p.hostname = "web";
  p.searchdomain = "example.com";
  p.nameservers = {"10.0.0.53", "10.0.0.54"};
  p.nets = {net0("10.0.0.2/24", "10.0.0.1", "fd00::2/64", "fd00::1"),
            SetupNet{1, "eth1", "dhcp", "", "auto", ""}, SetupNet{2, "eth2", "manual", "", "", ""}};
  setup_at_start(t.root(), p);

  EXPECT_EQ(t.get("/etc/hostname"), "web\n");
  EXPECT_EQ(t.get("/etc/hosts"),
            "# --- BEGIN PVE ---\n"
            "127.0.0.1 localhost.localnet localhost\n"
            "::1 localhost.localnet localhost\n"
            "10.0.0.2 web.example.com web\n"
            "# --- END PVE ---\n");
  EXPECT_EQ(t.get("/etc/network/interfaces"),
            "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n"
            "auto eth0\n"
            "iface eth0 inet static\n\taddress 10.0.0.2/24\n\tgateway 10.0.0.1\n\n"
            "iface eth0 inet6 static\n\taddress fd00::2/64\n\tgateway fd00::1\n\n"
            "auto eth1\n"
            "iface eth1 inet dhcp\n\n"
            "iface eth1 inet6 auto\n\n"
            "auto eth2\n"
            "iface eth2 inet manual\n\n");
  EXPECT_EQ(t.get("/etc/resolv.conf"),
            "# --- BEGIN PVE ---\nsearch example.com\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n# --- END PVE ---\n");
  EXPECT_EQ(t.stat_of("/etc/hostname").st_mode & 07777, 0644u);
}

TEST(CtSetupDebian, OldDebianGetsNetmaskAndOffLinkGatewayRoutes) {
  Tree t;
  debian12(t);
  t.put("/etc/debian_version", "9.13\n");
  auto p = t.params();
  p.nets = {net0("192.168.1.10/24", "10.1.1.1")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/network/interfaces"),
            "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n"
            "auto eth0\niface eth0 inet static\n\taddress 192.168.1.10\n\tnetmask 255.255.255.0\n"
            "# --- BEGIN PVE ---\n"
            "\tpost-up ip route add 10.1.1.1 dev eth0\n"
            "\tpost-up ip route add default via 10.1.1.1 dev eth0\n"
            "\tpre-down ip route del default via 10.1.1.1 dev eth0\n"
            "\tpre-down ip route del 10.1.1.1 dev eth0\n"
            "# --- END PVE ---\n\n");
  // A second start with an on-link gateway drops the old route lines.
  p.nets = {net0("192.168.1.10/24", "192.168.1.1")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/network/interfaces"),
            "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n"
            "auto eth0\niface eth0 inet static\n\taddress 192.168.1.10\n\tnetmask 255.255.255.0\n\tgateway 192.168.1.1\n\n");
}

TEST(CtSetupDebian, InterfacesKeepsForeignContent) {
  Tree t;
  debian12(t);
  t.put("/etc/network/interfaces",
        "# managed by hand\n"
        "source /etc/network/interfaces.d/*\n"
        "\n"
        "auto lo\n"
        "iface lo inet loopback\n"
        "\n"
        "auto eth0\n"
        "iface eth0 inet static\n"
        "\taddress 192.0.2.9/24\n"
        "\tgateway 192.0.2.1\n"
        "\tmtu 1400\n"
        "\n"
        "auto wg0\n"
        "iface wg0 inet static\n"
        "\taddress 172.16.0.1/24\n"
        "\tpre-up ip link add wg0 type wireguard\n");
  auto p = t.params();
  p.nets = {net0("10.0.0.2/24", "10.0.0.1", "dhcp")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/network/interfaces"),
            "# managed by hand\n"
            "source /etc/network/interfaces.d/*\n"
            "\n"
            "auto lo\n"
            "iface lo inet loopback\n"
            "\n"
            "auto eth0\n"
            "iface eth0 inet static\n"
            "\taddress 10.0.0.2/24\n"
            "\tgateway 10.0.0.1\n"
            "\tmtu 1400\n"
            "\n"
            "auto wg0\n"
            "iface wg0 inet static\n"
            "\taddress 172.16.0.1/24\n"
            "\tpre-up ip link add wg0 type wireguard\n"
            "\n"
            "iface eth0 inet6 dhcp\n\n");
  // Idempotent.
  const std::string once = t.get("/etc/network/interfaces");
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/network/interfaces"), once);
}

TEST(CtSetupDebian, BusyboxTemplateGetsWhatBusyboxIfupReads) {
  // Our own test template: os-release ID_LIKE=debian, busybox, applets linked at boot.
  Tree t;
  t.put("/etc/os-release", "ID=pvx-test-guest\nID_LIKE=debian\n");
  t.put("/bin/busybox", "ELF");
  auto p = t.params();
  p.nets = {net0("10.0.0.2/24", "10.0.0.1", "auto"), SetupNet{1, "eth1", "dhcp", "", "fd00::5/64", "fd00::1"}};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/network/interfaces"),
            "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n"
            "auto eth0\n"
            "iface eth0 inet static\n\taddress 10.0.0.2\n\tnetmask 255.255.255.0\n\tgateway 10.0.0.1\n\n"
            "iface eth0 inet6 manual\n\n"
            "auto eth1\n"
            "iface eth1 inet dhcp\n\n"
            "iface eth1 inet6 static\n\taddress fd00::5\n\tnetmask 64\n\tgateway fd00::1\n\n");
  // Where ifup is busybox itself (a hard link here), the same.
  Tree t2;
  t2.put("/etc/os-release", "ID=debian\n");
  t2.put("/etc/debian_version", "12.1\n");
  t2.put("/bin/busybox", "ELF");
  fs::create_directories(t2.root() / "sbin");
  fs::create_hard_link(t2.root() / "bin/busybox", t2.root() / "sbin/ifup");
  setup_at_start(t2.root(), p);
  EXPECT_NE(t2.get("/etc/network/interfaces").find("\tnetmask 255.255.255.0\n"), std::string::npos);
}

TEST(CtSetupDebian, NetworkdToo_WhenTheTemplateEnabledIt) {
  Tree t;
  debian12(t);
  t.link("/lib/systemd/system/systemd-networkd.service",
         "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service");
  auto p = t.params();
  p.nets = {net0("dhcp")};
  setup_at_start(t.root(), p);
  EXPECT_TRUE(t.has("/etc/network/interfaces"));
  EXPECT_NE(t.get("/etc/systemd/network/eth0.network").find("DHCP = ipv4\n"), std::string::npos);
}

TEST(CtSetupDebian, AlpineUsesInterfacesWithManualForSlaac) {
  Tree t;
  t.put("/etc/alpine-release", "3.19.1\n");
  t.put("/etc/os-release", "ID=alpine\n");
  auto p = t.params();
  p.nets = {net0("10.0.0.2/24", "", "auto")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/network/interfaces"),
            "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n"
            "auto eth0\niface eth0 inet static\n\taddress 10.0.0.2/24\n\n"
            "iface eth0 inet6 manual\n\n");
}

// ---------------------------------------------------------------- hosts, hostname, DNS

TEST(CtSetupNames, HostsKeepsOtherLinesAndIsIdempotent) {
  Tree t;
  debian12(t);
  t.put("/etc/hosts", "127.0.0.1\tlocalhost\n10.9.9.9 db.internal db\n");
  auto p = t.params();
  p.hostname = "app.example.org";
  p.nets = {net0("dhcp")};
  setup_at_start(t.root(), p);
  const std::string expected =
      "127.0.0.1\tlocalhost\n10.9.9.9 db.internal db\n"
      "# --- BEGIN PVE ---\n"
      "::1 localhost.localnet localhost\n"
      "127.0.1.1 app.example.org app\n"
      "# --- END PVE ---\n";
  EXPECT_EQ(t.get("/etc/hosts"), expected);
  EXPECT_EQ(t.get("/etc/hostname"), "app\n");
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/hosts"), expected);
  // A rename replaces only our section.
  p.hostname = "other";
  p.searchdomain = "a.test b.test";
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/hosts"),
            "127.0.0.1\tlocalhost\n10.9.9.9 db.internal db\n"
            "# --- BEGIN PVE ---\n"
            "::1 localhost.localnet localhost\n"
            "127.0.1.1 other.a.test other.b.test other\n"
            "# --- END PVE ---\n");
}

TEST(CtSetupNames, PveIgnoreFilesAreRespected) {
  Tree t;
  debian12(t);
  t.put("/etc/hosts", "mine\n");
  t.put("/etc/.pve-ignore.hosts", "");
  t.put("/etc/.pve-ignore.resolv.conf", "");
  t.put("/etc/network/.pve-ignore.interfaces", "");
  auto p = t.params();
  p.nets = {net0("10.0.0.2/24")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/hosts"), "mine\n");
  EXPECT_FALSE(t.has("/etc/resolv.conf"));
  EXPECT_FALSE(t.has("/etc/network/interfaces"));
  EXPECT_EQ(t.get("/etc/hostname"), "ct100\n");
}

TEST(CtSetupNames, DnsFallsBackToTheHost) {
  Tree t;
  debian12(t);
  t.put("/etc/resolv.conf", "nameserver 1.1.1.1\n");
  setup_at_start(t.root(), t.params());
  EXPECT_EQ(t.get("/etc/resolv.conf"),
            "# --- BEGIN PVE ---\nsearch host.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n# --- END PVE ---\n");
  // Only what the config leaves out comes from the host.
  auto p = t.params();
  p.nameservers = {"9.9.9.9"};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/resolv.conf"), "# --- BEGIN PVE ---\nsearch host.example\nnameserver 9.9.9.9\n# --- END PVE ---\n");
  // The section is replaced, the admin's lines around it stay.
  t.put("/etc/resolv.conf", "options edns0\n# --- BEGIN PVE ---\nnameserver 1.2.3.4\n# --- END PVE ---\n");
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/resolv.conf"),
            "options edns0\n# --- BEGIN PVE ---\nsearch host.example\nnameserver 9.9.9.9\n# --- END PVE ---\n");
}

// ---------------------------------------------------------------- other distributions

TEST(CtSetupOther, ArchGetsNetworkd) {
  Tree t;
  t.put("/etc/os-release", "ID=arch\n");
  auto p = t.params();
  p.nets = {net0("10.0.0.2/24", "10.9.0.1", "fd00::2/64", "fd01::1")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/systemd/network/eth0.network"),
            "[Match]\nName = eth0\n\n[Network]\nDescription = Interface eth0 autoconfigured by pvx\n"
            "Address = 10.0.0.2/24\nGateway = 10.9.0.1\nAddress = fd00::2/64\nGateway = fd01::1\n"
            "DHCP = no\nIPv6AcceptRA = false\n"
            "\n[Route]\nDestination = 10.9.0.1/32\nScope = link\n"
            "\n[Route]\nDestination = fd01::1/128\nScope = link\n");
  p.nets = {net0("dhcp", "", "dhcp")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/systemd/network/eth0.network"),
            "[Match]\nName = eth0\n\n[Network]\nDescription = Interface eth0 autoconfigured by pvx\n"
            "DHCP = yes\nIPv6AcceptRA = true\n");
}

TEST(CtSetupOther, CentosGetsIfcfgWithAStableUuid) {
  Tree t;
  t.put("/etc/os-release", "ID=\"centos\"\n");
  t.put("/etc/redhat-release", "CentOS Stream release 9\n");
  t.put("/etc/sysconfig/network", "# sysconfig\nNETWORKING=no\n");
  auto p = t.params();
  p.hostname = "db.example.com";
  p.nameservers = {"10.0.0.53"};
  p.searchdomain = "example.com";
  p.nets = {net0("10.0.0.2/24", "10.1.0.1", "auto")};
  setup_at_start(t.root(), p);
  const std::string ifcfg = t.get("/etc/sysconfig/network-scripts/ifcfg-eth0");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(ifcfg, m, std::regex(
      "DEVICE=eth0\nONBOOT=yes\nUUID=([0-9a-f-]{36})\nBOOTPROTO=none\n"
      "IPADDR=10\\.0\\.0\\.2\nNETMASK=255\\.255\\.255\\.0\nGATEWAY=10\\.1\\.0\\.1\n"
      "IPV6INIT=yes\nIPV6_AUTOCONF=yes\nDNS1=10\\.0\\.0\\.53\nDOMAIN=example\\.com\n")))
      << ifcfg;
  EXPECT_EQ(t.get("/etc/sysconfig/network-scripts/route-eth0"),
            "# --- BEGIN PVE ---\n10.1.0.1 dev eth0\ndefault via 10.1.0.1 dev eth0\n# --- END PVE ---\n");
  EXPECT_FALSE(t.has("/etc/sysconfig/network-scripts/route6-eth0"));
  EXPECT_EQ(t.get("/etc/sysconfig/network"), "# sysconfig\nNETWORKING=yes\nNETWORKING_IPV6=yes\nHOSTNAME=db.example.com\n");
  EXPECT_EQ(t.get("/etc/hostname"), "db.example.com\n");
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/sysconfig/network-scripts/ifcfg-eth0"), ifcfg);
}

TEST(CtSetupOther, CentosTenGetsNetworkManagerKeyfiles) {
  Tree t;
  t.put("/etc/os-release", "ID=\"almalinux\"\n");
  t.put("/etc/redhat-release", "AlmaLinux release 10.0 (Purple Lion)\n");
  auto p = t.params();
  p.nameservers = {"10.0.0.53", "fd00::53"};
  p.searchdomain = "example.com";
  p.nets = {net0("10.0.0.2/24", "10.0.0.1")};
  setup_at_start(t.root(), p);
  const std::string path = "/etc/NetworkManager/system-connections/eth0.nmconnection";
  const std::string data = t.get(path);
  EXPECT_NE(data.find("[ipv4]\nmethod=manual\naddresses=10.0.0.2/24\ngateway=10.0.0.1\ndns=10.0.0.53\ndns-search=example.com\n"
                      "[ipv6]\nmethod=disabled\n"),
            std::string::npos)
      << data;
  EXPECT_EQ(t.stat_of(path).st_mode & 07777, 0600u);
}

TEST(CtSetupOther, SuseGetsIfcfgAndIfroute) {
  Tree t;
  t.put("/etc/os-release", "ID=\"opensuse-tumbleweed\"\nVERSION_ID=\"20240101\"\n");
  auto p = t.params();
  p.nets = {net0("10.0.0.2/24", "10.0.0.1", "fd00::2/64", "fd00::1")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/sysconfig/network/ifcfg-eth0"),
            "STARTMODE=onboot\nBOOTPROTO=static\nIPADDR_1=10.0.0.2/24\nIPADDR_2=fd00::2/64\n");
  EXPECT_EQ(t.get("/etc/sysconfig/network/ifroute-eth0"),
            "# --- BEGIN PVE ---\ndefault 10.0.0.1 0.0.0.0 eth0\ndefault fd00::1 - eth0\n# --- END PVE ---\n");
}

TEST(CtSetupOther, GentooConfDNet) {
  Tree t;
  t.put("/etc/gentoo-release", "Gentoo Base System release 2.14\n");
  fs::create_directories(t.root() / "etc/init.d");
  auto p = t.params();
  p.nets = {net0("10.0.0.2/24", "10.0.0.1")};
  setup_at_start(t.root(), p);
  EXPECT_EQ(t.get("/etc/conf.d/net"),
            "# --- BEGIN PVE ---\nmodules=\"$modules ifconfig\"\nconfig_eth0=\"10.0.0.2/24\"\n"
            "routes_eth0=\"default gw 10.0.0.1\"\n# --- END PVE ---\n");
  EXPECT_EQ(fs::read_symlink(t.root() / "etc/init.d/net.eth0"), "net.lo");
  EXPECT_EQ(t.get("/etc/conf.d/hostname"), "hostname=\"ct100\"\n");
}

// ---------------------------------------------------------------- create: accounts

TEST(CtSetupCreate, PasswordKeysAndMachineId) {
  Tree t;
  debian12(t);
  t.put("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n");
  t.put("/etc/shadow", "root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n");
  ::chmod((t.root() / "etc/shadow").c_str(), 0640);
  t.put("/etc/machine-id", "0123456789abcdef0123456789abcdef\n");
  fs::create_directories(t.root() / "root");
  setup_at_create(t.root(), t.params(), std::string("s3cret:pw"), "ssh-ed25519 AAAA test@host\n");

  const std::string shadow = t.get("/etc/shadow");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(shadow, m, std::regex("^root:(\\$6\\$[^:]+):(\\d+):0:99999:7:::\n")));
  const std::string hash = m[1];
  crypt_data data{};
  EXPECT_EQ(std::string(crypt_r("s3cret:pw", hash.c_str(), &data)), hash);
  EXPECT_EQ(std::to_string(std::time(nullptr) / 86400), m[2].str());
  EXPECT_NE(shadow.find("\nbin:*:19000:0:99999:7:::\n"), std::string::npos);
  EXPECT_EQ(t.stat_of("/etc/shadow").st_mode & 07777, 0640u);  // kept
  EXPECT_EQ(t.get("/etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n");

  EXPECT_EQ(t.get("/root/.ssh/authorized_keys"), "# --- BEGIN PVE ---\nssh-ed25519 AAAA test@host\n# --- END PVE ---\n");
  EXPECT_EQ(t.stat_of("/root/.ssh").st_mode & 07777, 0700u);
  EXPECT_EQ(t.stat_of("/root/.ssh/authorized_keys").st_mode & 07777, 0600u);
  EXPECT_FALSE(t.has("/etc/machine-id"));
  EXPECT_EQ(t.get("/etc/hostname"), "ct100\n");  // and the start setup ran
}

TEST(CtSetupCreate, HashedPasswordIsStoredAsIsAndPasswdOnlyTemplates) {
  Tree t;
  debian12(t);
  t.put("/etc/passwd", "root::0:0:root:/root:/bin/sh\n");
  const std::string hashed = "$y$j9T$abcdefghijklmnop$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg";
  setup_at_create(t.root(), t.params(), hashed, "");
  EXPECT_EQ(t.get("/etc/passwd"), "root:" + hashed + ":0:0:root:/root:/bin/sh\n");
  EXPECT_FALSE(t.has("/root/.ssh"));
  // A "hash" with a colon or newline is a password, never a field separator.
  EXPECT_FALSE(setup::looks_like_crypt_hash("$6$x$y:0:0"));
  EXPECT_FALSE(setup::looks_like_crypt_hash("$6$x$y\nevil::0:0::/:/bin/sh"));
  EXPECT_TRUE(setup::looks_like_crypt_hash("$6$rounds=5000$salt$hash"));
}

TEST(CtSetupCreate, UnprivilegedOwnership) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  Tree t;
  debian12(t);
  t.put("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  fs::create_directories(t.root() / "root");
  ::chown((t.root() / "root").c_str(), 100000, 100000);
  ::chown((t.root() / "etc/passwd").c_str(), 100000, 100000);
  auto p = t.params();
  p.root_uid = 100000;
  p.root_gid = 100000;
  setup_at_create(t.root(), p, std::nullopt, "ssh-rsa AAAA k\n");
  for (const char* path : {"/root/.ssh", "/root/.ssh/authorized_keys", "/etc/hostname", "/etc/hosts", "/etc/passwd"}) {
    EXPECT_EQ(t.stat_of(path).st_uid, 100000u) << path;
    EXPECT_EQ(t.stat_of(path).st_gid, 100000u) << path;
  }
  EXPECT_EQ(t.get("/etc/passwd"), "root:*:0:0:root:/root:/bin/sh\n");  // no password: locked, as PVE
}

// ---------------------------------------------------------------- hostile rootfs

TEST(CtSetupSecurity, AbsoluteSymlinkToAHostFileIsReplacedNotFollowed) {
  Tree t;
  debian12(t);
  t.put_host("victim", "host data\n");
  t.link((t.host() / "victim").string(), "/etc/hostname");
  t.link((t.host() / "victim").string(), "/etc/resolv.conf");
  t.link((t.host() / "victim").string(), "/etc/hosts");
  setup_at_start(t.root(), t.params());
  EXPECT_EQ(Tree::slurp(t.host() / "victim"), "host data\n");
  EXPECT_EQ(t.get("/etc/hostname"), "ct100\n");
  EXPECT_TRUE(S_ISREG(t.stat_of("/etc/hostname").st_mode));
  // The symlinked hosts file was read inside the root (missing there), not on the host.
  EXPECT_EQ(t.get("/etc/hosts").find("host data"), std::string::npos);
}

TEST(CtSetupSecurity, DirectorySymlinksCannotLeaveTheRoot) {
  Tree t;
  debian12(t);
  // /etc/network -> ../../../host and /root -> the host directory, absolutely.
  t.link("../../../host", "/etc/network");
  t.link(t.host().string(), "/root");
  t.put("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  fs::create_directories(t.root() / "host");  // where "../../../host" lands inside the root
  fs::create_directories(t.root() / t.host().relative_path());
  auto p = t.params();
  p.nets = {net0("10.0.0.2/24")};
  setup_at_create(t.root(), p, std::string("pw"), "ssh-rsa AAAA k\n");
  EXPECT_FALSE(fs::exists(t.host() / "interfaces"));
  EXPECT_FALSE(fs::exists(t.host() / ".ssh"));
  EXPECT_TRUE(fs::exists(t.root() / "host/interfaces"));
  EXPECT_TRUE(fs::exists(t.root() / t.host().relative_path() / ".ssh/authorized_keys"));
}

TEST(CtSetupSecurity, EtcPointingOutOfTheRootStaysInside) {
  Tree t;
  fs::remove(t.root() / "etc");
  fs::create_directories(t.root() / "a");
  t.link("../../..", "/etc");  // from rootfs/etc: ../../.. would be above the temp dir
  t.put("/os-release", "ID=debian\n");  // "/etc" is the root itself inside the container
  t.put("/debian_version", "12.0\n");
  std::size_t entries_before = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(t.base())) ++entries_before;
  setup_at_start(t.root(), t.params());
  std::size_t entries_after = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(t.base())) ++entries_after;
  EXPECT_EQ(entries_before, entries_after);
  EXPECT_EQ(t.get("/hostname"), "ct100\n");  // written to the container's "/etc" = its root
}

TEST(CtSetupSecurity, ReadsDoNotEscapeOrBlock) {
  Tree t;
  // os-release pointing at the host's: detection must not see it.
  t.link("/../../../../../../../../etc/os-release", "/etc/os-release");
  t.link("/proc/self/root/etc/debian_version", "/etc/debian_version");
  EXPECT_EQ(detect_ostype(t.root()), "unmanaged");
  // A FIFO as /etc/hosts would block a reader: it is replaced instead.
  Tree f;
  debian12(f);
  ASSERT_EQ(::mkfifo((f.root() / "etc/hosts").c_str(), 0644), 0);
  setup_at_start(f.root(), f.params());
  EXPECT_TRUE(S_ISREG(f.stat_of("/etc/hosts").st_mode));
  // Interface names become file names: anything but a plain name is refused.
  Tree n;
  n.put("/etc/os-release", "ID=arch\n");
  auto p = n.params();
  p.nets = {SetupNet{0, "../../x", "dhcp", "", "", ""}};
  EXPECT_THROW(setup_at_start(n.root(), p), Error);
}

}  // namespace
}  // namespace pvx::guest::lxc
