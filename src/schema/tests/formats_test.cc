#include "schema/formats.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

namespace pvx::schema {
namespace {

struct FormatCase {
  const char* format;
  std::vector<std::string> good;
  std::vector<std::string> bad;
};

const std::vector<FormatCase>& cases() {
  static const std::vector<FormatCase> kCases = {
      {"string", {"", "anything at all"}, {}},
      {"urlencoded", {"ssh-rsa%20AAAA", "a_b.c!~*'()"}, {"has space", "a/b"}},
      {"pve-configid", {"net0", "my-key_1"}, {"0net", "a", "bad.key"}},
      {"pve-storage-id", {"local", "local-lvm.2"}, {"l", "1local", "local-"}},
      {"acme-plugin-id", {"standalone", "my.dns"}, {"x", "-dns"}},
      {"pve-bridge-id", {"vmbr0", "br-lan.5"}, {"vm br0", "br/0"}},
      {"pve-vmid", {"100", "999999999"}, {"99", "0100", "1000000000", "abc"}},
      {"pve-node", {"pve1", "node-a"}, {"-node", "node_a", "node.example.com"}},
      {"mac-addr", {"BC:24:11:AA:BB:CC", "02:00:00:00:00:01"}, {"01:00:5E:00:00:01", "BC:24:11:AA:BB", "BC-24-11-AA-BB-CC"}},
      {"mac-prefix", {"BC:24:11", "02"}, {"01:00", "zz:24"}},
      {"ipv4", {"192.168.1.1", "0.0.0.0"}, {"256.1.1.1", "1.2.3", "01.2.3.4"}},
      {"ipv6", {"fe80::1", "::ffff:10.0.0.1"}, {"fe80::1::2", "1.2.3.4", "gggg::1"}},
      {"ip", {"10.0.0.1", "2001:db8::1"}, {"10.0.0.256", "host.example"}},
      {"ipv4mask", {"255.255.255.0", "0.0.0.0"}, {"255.0.255.0", "255.255.255.1"}},
      {"CIDRv4", {"10.0.0.0/8", "192.168.1.5/24"}, {"10.0.0.0/7", "10.0.0.0/33", "10.0.0.0"}},
      {"CIDRv6", {"2001:db8::/32", "fd00::1/128"}, {"2001:db8::/7", "2001:db8::/129"}},
      {"CIDR", {"10.0.0.0/24", "fd00::/64"}, {"10.0.0.1", "fd00::/200"}},
      {"IPorCIDR", {"10.0.0.1", "10.0.0.0/24"}, {"10.0.0.0/40", "name"}},
      {"IPorCIDRorAlias", {"10.0.0.1", "dc/myalias"}, {"10.0.0.0/40", "1bad"}},
      {"pve-ipv4-config", {"dhcp", "10.0.0.5/24"}, {"auto", "10.0.0.5"}},
      {"pve-ipv6-config", {"auto", "fd00::5/64"}, {"fd00::5", "static"}},
      {"lxc-ip-with-ll-iface", {"fe80::1%eth0", "10.0.0.1"}, {"fe80::1%", "nope"}},
      {"email", {"root@example.com", "first.last+tag@mail.example.org"}, {"root", "a@b@c", "x@-ex ample.com"}},
      {"email-or-username", {"root@example.com", "root"}, {"a b", "x@"}},
      {"dns-name", {"example.com", "a-b.c"}, {"-a.com", "a..com", "a_b.com"}},
      {"address", {"10.0.0.1", "pve.example.com"}, {"bad host", "a..b"}},
      {"timezone", {"UTC", "Europe/Vienna"}, {"Not A Zone", "/etc/passwd"}},
      {"pve-ct-timezone", {"host", "America/New_York"}, {"../x", "a b"}},
      {"pve-iface", {"eth0", "vmbr0.100"}, {"0eth", "e", "eth0-1"}},
      {"pve-vlan-id-or-range", {"10", "100-200"}, {"1", "200-100", "4095", "a-b"}},
      {"disk-size", {"32G", "1.5T", "100", "512MiB"}, {"32X", "-1G", "G"}},
      {"pve-startup-order", {"order=1,up=30", "2,down=60"}, {"0", "order=x", "left=1"}},
      {"pve-tag", {"prod", "team.a+b"}, {"-tag", "a b", ""}},
      {"pve-tfa-secret", {"JBSWY3DPEHPK3PXP", "v2-0x0123456789abcdef"}, {"short", "v2-lowercase1234567"}},
      {"pve-task-status-type", {"ok", "ERROR"}, {"failed", "okay"}},
      {"ldap-simple-attr", {"uid", "sAMAccountName"}, {"u-id", ""}},
      {"pve-userid", {"root@pam", "john.doe@pve"}, {"root", "a@b", "jo hn@pve", "root@1pam"}},
      {"pve-tokenid", {"root@pam!mytoken", "u@pve!t-1"}, {"root@pam", "root@pam!1bad"}},
      {"pve-realm", {"pam", "my-ldap"}, {"1realm", "p"}},
      {"pve-groupid", {"admins", "ops.team-1"}, {"a b", "g/1"}},
      {"pve-roleid", {"PVEAdmin", "My_Role"}, {"role x", "r:1"}},
      {"pve-poolid", {"pool1", "a/b/c"}, {"a/b/c/d", "bad pool"}},
      {"pve-priv", {"VM.PowerMgmt", "Sys.Audit"}, {"vm", "VM PowerMgmt"}},
      {"pve-volume-id", {"local:iso/debian.iso", "local-lvm:vm-100-disk-0"}, {"/dev/sda", "local", "1x:abc"}},
      {"pve-volume-id-or-absolute-path", {"/mnt/img.qcow2", "local:100/x.raw"}, {"relative/path", "none"}},
      {"pve-volume-id-or-qm-path", {"none", "cdrom", "/dev/sdb", "local:iso/x.iso"}, {"relative", "nocolon"}},
      {"pve-storage-path", {"/var/lib/vz", "/mnt/data dir"}, {"relative", "/;"}},
      {"pve-storage-server", {"10.0.0.2", "nas.example.com"}, {"nas example", "a..b"}},
      {"pve-storage-portal-dns", {"10.0.0.2:3260", "[fd00::1]:3260"}, {"a b", "[nothing]"}},
      {"pve-storage-vgname", {"pve", "vg_data-1"}, {"-vg", "v"}},
      {"pve-storage-options", {"vers=4.2,soft", "rw"}, {"a b", "", "x\ny"}},
      {"pve-storage-content", {"images", "rootdir"}, {"image", "disks"}},
      {"pve-dir-override", {"iso=isos", "backup=dumps/x"}, {"=x", "ISO=x"}},
      {"storage-pair", {"local:local-lvm", "1"}, {"a:b:c", "x"}},
      {"bridge-pair", {"vmbr0:vmbr1", "vmbr2"}, {"vm br0", "a: b"}},
      {"pve-lxc-mp-string", {"/mnt/data", "data/sub"}, {"/mnt/../etc", "../x"}},
      {"pve-lxc-dev-string", {"/dev/ttyUSB0", "/dev/dri/card0"}, {"", "a\nb"}},
      {"pve-cpuset", {"0-3", "0,2,4-7"}, {"a", "0-"}},
      {"pve-hotplug-features", {"network,disk,usb", "0"}, {"network,", "floppy"}},
      {"pve-replication-job-id", {"100-0", "1234-5"}, {"100", "abc-1"}},
      {"pve-ha-resource-id", {"vm:100", "ct:101"}, {"100", "xx:100"}},
      {"pve-ha-resource-or-vm-id", {"vm:100", "100"}, {"ab:100", "vm:"}},
      {"pve-ha-node", {"node1", "node2:5"}, {"node_1", "node:x"}},
      {"pve-day-of-week", {"mon", "sun"}, {"monday", "Mon"}},
      {"pve-acme-domain", {"example.com", "*.example.com"}, {"ex ample.com", "*."}},
      {"pve-acme-alias", {"_acme.example.com", "alias.example.net"}, {"bad alias", "-a.b"}},
      {"graphite-path", {"proxmox", "a.b_c"}, {"a/b", "a b"}},
      {"pem-string", {"-----BEGIN PRIVATE KEY-----\nx", "-----BEGIN RSA PRIVATE KEY-----"}, {"plain", ""}},
      {"pem-certificate", {"-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----", "x-----BEGIN CERTIFICATE-----"}, {"-----BEGIN KEY-----", ""}},
      {"pem-certificate-chain", {"-----BEGIN CERTIFICATE-----", "a\n-----BEGIN CERTIFICATE-----"}, {"chain", ""}},
      {"pve-calendar-event", {"daily", "mon..fri 02:00"}, {"", "a\nb"}},
      {"pve-command-batch", {"[{\"path\":\"/nodes\"}]", "x"}, {"", "\x01"}},
      {"pve-fw-addr-spec", {"10.0.0.0/24", "+dc/ipset"}, {"", "a\tb"}},
      {"pve-fw-dport-spec", {"22", "80:90"}, {"", "\n"}},
      {"pve-fw-sport-spec", {"1024", "ssh"}, {"", "\r"}},
      {"pve-fw-icmp-type-spec", {"echo-request", "8"}, {"", "\x7f"}},
      {"pve-fw-protocol-spec", {"tcp", "6"}, {"", "\x02"}},
      {"pve-fw-conntrack-helper", {"ftp", "sip"}, {"", "\x03"}},
      {"pve-sdn-bgp-rt", {"65000:100", "1.2.3.4:5"}, {"", "\n"}},
      {"pve-sdn-dhcp-range", {"start-address=10.0.0.10,end-address=10.0.0.20", "x"}, {"", "\n"}},
      {"pve-sdn-isis-net", {"49.0001.1921.6800.1002.00", "x"}, {"", "\n"}},
      {"pve-sdn-controller-id", {"evpnctl", "bgp1"}, {"1ctl", "a b"}},
      {"pve-sdn-dns-id", {"powerdns", "dns1"}, {"1dns", "d.s"}},
      {"pve-sdn-fabric-id", {"fabric", "f-1"}, {"1f", "f b"}},
      {"pve-sdn-ipam-id", {"pve", "netbox"}, {"9ipam", "i/p"}},
      {"pve-sdn-subnet-id", {"zone-10.0.0.0-24", "x"}, {"", "\n"}},
      {"pve-sdn-vnet-id", {"vnet1", "myvnet"}, {"1vnet", "v net"}},
      {"pve-sdn-zone-id", {"zone1", "evpn"}, {"1zone", "z.one"}},
  };
  return kCases;
}

TEST(Formats, EveryKnownFormatIsCovered) {
  std::set<std::string> covered;
  for (const auto& c : cases()) covered.insert(c.format);
  for (const auto& f : known_formats()) EXPECT_TRUE(covered.count(f)) << "no test row for format " << f;
}

TEST(Formats, GoodAndBadValues) {
  for (const auto& c : cases()) {
    ASSERT_TRUE(format_known(c.format)) << c.format;
    for (const auto& v : c.good) EXPECT_EQ(check_format(c.format, v), std::nullopt) << c.format << " should accept '" << v << "'";
    for (const auto& v : c.bad) EXPECT_NE(check_format(c.format, v), std::nullopt) << c.format << " should refuse '" << v << "'";
    if (std::string(c.format) != "string") {
      EXPECT_GE(c.good.size(), 2u) << c.format;
      EXPECT_GE(c.bad.size(), 2u) << c.format;
    }
  }
}

TEST(Formats, MessagesAsPve) {
  EXPECT_EQ(check_format("pve-node", "-x"), "value does not look like a valid node name");
  EXPECT_EQ(check_format("pve-vmid", "99"), "value does not look like a valid VM ID");
  EXPECT_EQ(check_format("pve-storage-id", "x"), "storage ID 'x' cannot be shorter than 2 characters");
  EXPECT_EQ(check_format("pve-storage-id", "1x"), "storage ID '1x' contains illegal characters");
  EXPECT_EQ(check_format("pve-configid", "0x"), "invalid configuration ID '0x'");
  EXPECT_EQ(check_format("pve-userid", "ab"), "user name 'ab' is too short");
  EXPECT_EQ(check_format("pve-userid", "root"), "value 'root' does not look like a valid user name");
  EXPECT_EQ(check_format("mac-addr", "01:00:00:00:00:00"), "value does not look like a valid unicast MAC address");
  EXPECT_EQ(check_format("pve-tag", "a b"), "invalid characters in tag");
  EXPECT_EQ(check_format("pve-volume-id", "abc"), "unable to parse volume ID 'abc'");
  EXPECT_EQ(check_format("disk-size", "1X"), "value does not look like a valid disk size: 1X");
  EXPECT_EQ(check_format("address", "a b"), "value does not look like a valid address: a b");
  EXPECT_EQ(check_format("pve-lxc-mp-string", "../x"), "../x contains illegal character sequences");
  EXPECT_EQ(check_format("pve-task-status-type", "bad"), "invalid status 'bad'");
}

TEST(Formats, ListFormats) {
  for (const char* f : {"pve-configid-list", "pve-vmid-list", "pve-priv-list", "pve-tag-list", "pve-storage-id-list",
                        "pve-task-status-type-list", "email-list", "pve-userid-list"}) {
    EXPECT_TRUE(format_known(f)) << f;
    EXPECT_EQ(check_format(f, ""), std::nullopt) << "empty lists are allowed: " << f;
  }
  EXPECT_EQ(check_format("pve-vmid-list", "100,101;102 103"), std::nullopt);
  EXPECT_EQ(check_format("pve-vmid-list", "100,99"), "value does not look like a valid VM ID");
  EXPECT_EQ(check_format("pve-configid-list", "net0, scsi1 ;ide2"), std::nullopt);
  EXPECT_NE(check_format("pve-configid-list", "net0,0bad"), std::nullopt);
  EXPECT_EQ(check_format("pve-priv-list", "VM.Audit,Sys.Audit"), std::nullopt);
  EXPECT_NE(check_format("pve-priv-list", "VM.Audit,bogus"), std::nullopt);
  EXPECT_EQ(check_format("pve-tag-list", "a;b;c"), std::nullopt);
  EXPECT_NE(check_format("pve-tag-list", "a;-b"), std::nullopt);
  EXPECT_EQ(check_format("pve-storage-id-list", "local,local-lvm"), std::nullopt);
  EXPECT_NE(check_format("pve-storage-id-list", "local,x"), std::nullopt);
  EXPECT_EQ(check_format("pve-task-status-type-list", "ok,error"), std::nullopt);
  EXPECT_NE(check_format("pve-task-status-type-list", "ok,nope"), std::nullopt);
  // Repeated form fields arrive joined with NUL bytes.
  EXPECT_EQ(check_format("pve-vmid-list", std::string("100\0" "101", 7)), std::nullopt);
}

TEST(Formats, OptSuffixAllowsEmpty) {
  EXPECT_EQ(check_format("email-opt", ""), std::nullopt);
  EXPECT_EQ(check_format("email-opt", "a@b.c"), std::nullopt);
  EXPECT_NE(check_format("email-opt", "nope"), std::nullopt);
}

TEST(Formats, UnknownFormatIsADeclarationError) {
  EXPECT_FALSE(format_known("no-such-format"));
  EXPECT_FALSE(format_known("no-such-format-list"));
  EXPECT_THROW(check_format("no-such-format", "x"), std::logic_error);
}

TEST(Formats, SplitList) {
  EXPECT_EQ(split_list(" a, b;c  d,,"), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(split_list(""), std::vector<std::string>{});
  EXPECT_EQ(split_list(std::string("a,b\0c", 5)), (std::vector<std::string>{"a,b", "c"}));
}

TEST(DiskSize, Parse) {
  EXPECT_EQ(parse_disk_size("100"), 100u);
  EXPECT_EQ(parse_disk_size("1K"), 1024u);
  EXPECT_EQ(parse_disk_size("512M"), 512ull << 20);
  EXPECT_EQ(parse_disk_size("32G"), 34359738368ull);
  EXPECT_EQ(parse_disk_size("32GiB"), 34359738368ull);
  EXPECT_EQ(parse_disk_size("1.5T"), 3ull << 39);
  EXPECT_EQ(parse_disk_size("0.5K"), 512u);
  EXPECT_EQ(parse_disk_size("1.5"), 1u);  // truncated like PVE's int()
  for (const char* bad : {"", "G", "1.G", ".5G", "1g", "1 G", "-1", "1KB", "99999999999999999999T"}) {
    EXPECT_EQ(parse_disk_size(bad), std::nullopt) << bad;
  }
}

TEST(DiskSize, FormatUsesLargestExactUnit) {
  EXPECT_EQ(format_disk_size(34359738368ull), "32G");
  EXPECT_EQ(format_disk_size(540672), "528K");
  EXPECT_EQ(format_disk_size(1023), "1023");
  EXPECT_EQ(format_disk_size(1536ull << 20), "1536M");
  EXPECT_EQ(format_disk_size(2ull << 40), "2T");
  EXPECT_EQ(format_disk_size(2048ull << 40), "2048T");
  EXPECT_EQ(format_disk_size(0), "0T");
  for (const char* text : {"32G", "528K", "4M", "3T", "1000"}) {
    EXPECT_EQ(format_disk_size(*parse_disk_size(text)), text);
  }
}

}  // namespace
}  // namespace pvx::schema
