// Cloud-init generation against qemu-server's texts, the ISO as genisoimage builds it (read back
// with isoinfo), cicustom snippets, the [special:cloudinit] bookkeeping and password hashing
// (checked with `openssl passwd`, an independent SHA-512 crypt).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "cluster/sqlite_store.h"
#include "guest/qemu/cloudinit.h"
#include "guest/qemu/cloudinit_volume.h"
#include "storage/storage_service.h"

namespace pvx::guest::qemu {
namespace {

namespace fs = std::filesystem;
using schema::Json;

ConfigSection section(std::map<std::string, std::string> values) {
  ConfigSection s;
  s.values = std::move(values);
  return s;
}

std::string sha1_hex(const std::string& data) {
  auto r = run_command({"sha1sum"}, CommandOptions{.input = data});
  return r.out.substr(0, 40);
}

const HostDns kHost{{"lan"}, {"192.168.1.1"}};

// Two keys, a blank line in between, as the GUI URL-encodes them.
const std::string kSshKeys = "ssh-ed25519%20AAAAC3%20user%40host%0A%0Assh-rsa%20BBBB%20other%0A";

ConfigSection web_vm() {
  return section({
      {"name", "web"},
      {"searchdomain", "example.com"},
      {"nameserver", "1.1.1.1 2606:4700::1111"},
      {"ciuser", "admin"},
      {"cipassword", "$6$abc$hash"},
      {"sshkeys", kSshKeys},
      {"net0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0"},
      {"ipconfig0", "ip=10.0.0.5/24,gw=10.0.0.1,ip6=2001:db8::5/64,gw6=2001:db8::1"},
      {"net1", "e1000=BC:24:11:00:00:01,bridge=vmbr0"},
      {"ipconfig1", "ip6=auto"},
      {"net2", "virtio=BC:24:11:00:00:02,bridge=vmbr1"},  // no ipconfig2: not configured
      {"net10", "virtio=BC:24:11:00:00:10,bridge=vmbr0"},
      {"ipconfig10", "ip=dhcp"},
      {"ipconfig5", "ip=dhcp"},  // no net5: ignored
  });
}

const char* kWebUserData =
    "#cloud-config\n"
    "hostname: web\n"
    "manage_etc_hosts: true\n"
    "fqdn: web.example.com\n"
    "user: admin\n"
    "password: $6$abc$hash\n"
    "ssh_authorized_keys:\n"
    "  - ssh-ed25519 AAAAC3 user@host\n"
    "  - ssh-rsa BBBB other\n"
    "chpasswd:\n"
    "  expire: False\n"
    "users:\n"
    "  - default\n"
    "package_upgrade: true\n";

const char* kWebNetwork =
    "version: 1\n"
    "config:\n"
    "    - type: physical\n"
    "      name: eth0\n"
    "      mac_address: 'bc:24:11:aa:bb:cc'\n"
    "      subnets:\n"
    "      - type: static\n"
    "        address: '10.0.0.5'\n"
    "        netmask: '255.255.255.0'\n"
    "        gateway: '10.0.0.1'\n"
    "      - type: static6\n"
    "        address: '2001:db8::5/64'\n"
    "        gateway: '2001:db8::1'\n"
    "    - type: physical\n"
    "      name: eth1\n"
    "      mac_address: 'bc:24:11:00:00:01'\n"
    "      subnets:\n"
    "      - type: ipv6_slaac\n"
    "    - type: physical\n"
    "      name: eth10\n"
    "      mac_address: 'bc:24:11:00:00:10'\n"
    "      subnets:\n"
    "      - type: dhcp4\n"
    "    - type: nameserver\n"
    "      address:\n"
    "      - '1.1.1.1'\n"
    "      - '2606:4700::1111'\n"
    "      search:\n"
    "      - 'example.com'\n";

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "pvx-ci-XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string iso_file(const fs::path& iso, const std::string& name) {
  return run_command({"isoinfo", "-i", iso.string(), "-R", "-x", name}).out;
}

TEST(CloudInit, NoCloudFilesOfATypicalVm) {
  auto files = generate_cloudinit(100, web_vm(), {}, kHost);
  EXPECT_EQ(files.citype, "nocloud");
  EXPECT_EQ(files.label, "cidata");
  ASSERT_EQ(files.files.size(), 4u);
  EXPECT_EQ(files.files["user-data"], kWebUserData);
  EXPECT_EQ(files.files["network-config"], kWebNetwork);
  EXPECT_EQ(files.files["vendor-data"], "");
  // instance-id is the SHA-1 of user-data and network-config: it changes when they do.
  EXPECT_EQ(files.files["meta-data"], "instance-id: " + sha1_hex(std::string(kWebUserData) + kWebNetwork) + "\n");
}

TEST(CloudInit, RootUserNoUpgradeAndHostDns) {
  auto files = generate_cloudinit(123, section({{"ciuser", "root"}, {"ciupgrade", "0"}}), {}, kHost);
  EXPECT_EQ(files.files["user-data"],
            "#cloud-config\n"
            "hostname: VM123\n"
            "manage_etc_hosts: true\n"
            "fqdn: VM123\n"
            "user: root\n"
            "disable_root: False\n"
            "chpasswd:\n"
            "  expire: False\n");
  // Neither nameserver nor searchdomain set: the host's resolver settings.
  EXPECT_EQ(files.files["network-config"],
            "version: 1\n"
            "config:\n"
            "    - type: nameserver\n"
            "      address:\n"
            "      - '192.168.1.1'\n"
            "      search:\n"
            "      - 'lan'\n");
}

TEST(CloudInit, DottedNameIsTheFqdn) {
  auto user = cloudinit_dump(100, section({{"name", "db.corp.local"}, {"searchdomain", "other.org"}}), "user", false, kHost);
  EXPECT_NE(user.find("hostname: db\n"), std::string::npos) << user;
  EXPECT_NE(user.find("fqdn: db.corp.local\n"), std::string::npos) << user;
  EXPECT_NE(user.find("package_upgrade: true\n"), std::string::npos);
}

TEST(CloudInit, ParsesResolvConf) {
  auto dns = parse_resolv_conf("# comment\ndomain d.example\nsearch a.example b.example\nnameserver 10.0.0.1\n"
                               "nameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n");
  EXPECT_EQ(dns.search, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_EQ(dns.nameservers, (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(parse_resolv_conf("domain d.example\n").search, std::vector<std::string>{"d.example"});
}

TEST(CloudInit, ConfigDrive2ForLinux) {
  auto conf = section({
      {"citype", "configdrive2"},
      {"name", "vm1"},
      {"nameserver", "9.9.9.9"},
      {"searchdomain", "x.org"},
      {"net0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0"},
      {"ipconfig0", "ip=192.168.0.10/16,gw=192.168.0.1,ip6=dhcp"},
  });
  auto files = generate_cloudinit(100, conf, {}, kHost);
  EXPECT_EQ(files.label, "config-2");
  const std::string network =
      "auto lo\n"
      "iface lo inet loopback\n"
      "\n"
      "        dns_nameservers 9.9.9.9\n"
      "        dns_search x.org\n"
      "auto eth0\n"
      "iface eth0 inet static\n"
      "        address 192.168.0.10\n"
      "        netmask 255.255.0.0\n"
      "        gateway 192.168.0.1\n"
      "iface eth0 inet6 dhcp\n";
  EXPECT_EQ(files.files["openstack/content/0000"], network);
  const std::string user = files.files["openstack/latest/user_data"];
  EXPECT_TRUE(user.starts_with("#cloud-config\nhostname: vm1\n")) << user;
  auto meta = Json::parse(files.files["openstack/latest/meta_data.json"]);
  EXPECT_EQ(meta["uuid"], sha1_hex(user + network));
  EXPECT_EQ(meta["network_config"]["content_path"], "/content/0000");
  EXPECT_EQ(files.files["openstack/latest/vendor_data.json"], "");
  EXPECT_EQ(cloudinit_dump(100, conf, "network", false, kHost), network);
}

TEST(CloudInit, WindowsDefaultsToConfigDrive2WithCloudbaseMetadata) {
  auto conf = section({{"ostype", "win11"}, {"cipassword", "Secret123"}, {"sshkeys", kSshKeys},
                       {"net0", "virtio=BC:24:11:AA:BB:CC"}, {"ipconfig0", "ip=10.1.1.2/24,gw=10.1.1.1"},
                       {"nameserver", "10.1.1.53"}});
  EXPECT_EQ(cloudinit_format(conf), "configdrive2");
  auto files = generate_cloudinit(100, conf, {}, kHost);
  auto meta = Json::parse(files.files["openstack/latest/meta_data.json"]);
  EXPECT_EQ(meta["admin_pass"], "Secret123");
  EXPECT_EQ(meta["public_keys"]["key-0"], "ssh-ed25519 AAAAC3 user@host");
  EXPECT_EQ(meta["public_keys"]["key-1"], "ssh-rsa BBBB other");
  // cloudbase-init's ENI: no loopback, DNS per interface.
  EXPECT_EQ(files.files["openstack/content/0000"],
            "auto eth0\n"
            "iface eth0 inet static\n"
            "        address 10.1.1.2\n"
            "        netmask 255.255.255.0\n"
            "        gateway 10.1.1.1\n"
            "        dns-nameservers 10.1.1.53\n");
  EXPECT_EQ(hash_cipassword("Secret123", "win11"), "Secret123");
  EXPECT_EQ(windows_version("w2k8"), 6);
  EXPECT_EQ(windows_version("l26"), 0);
}

TEST(CloudInit, CustomSnippetsReplaceGeneratedParts) {
  auto conf = web_vm();
  conf.values["cicustom"] = "user=local:snippets/user.yaml,vendor=local:snippets/vendor.yaml";
  std::vector<std::string> asked;
  SnippetReader reader = [&](const std::string& volid) {
    asked.push_back(volid);
    return volid == "local:snippets/user.yaml" ? std::string("#cloud-config\nruncmd: [touch, /ok]\n")
                                               : std::string("#cloud-config\npackages: [htop]\n");
  };
  auto files = generate_cloudinit(100, conf, reader, kHost);
  EXPECT_EQ(asked, (std::vector<std::string>{"local:snippets/user.yaml", "local:snippets/vendor.yaml"}));
  EXPECT_EQ(files.files["user-data"], "#cloud-config\nruncmd: [touch, /ok]\n");
  EXPECT_EQ(files.files["vendor-data"], "#cloud-config\npackages: [htop]\n");
  EXPECT_EQ(files.files["network-config"], kWebNetwork);  // still generated
  EXPECT_EQ(files.files["meta-data"],
            "instance-id: " + sha1_hex("#cloud-config\nruncmd: [touch, /ok]\n" + std::string(kWebNetwork)) + "\n");
  // The dump shows what pvx would generate, never the snippet (as PVE's dump).
  EXPECT_EQ(cloudinit_dump(100, conf, "user", false, kHost), kWebUserData);

  conf.values["cicustom"] = "meta=local:snippets/meta.yaml";
  auto custom_meta = generate_cloudinit(100, conf, [](const std::string&) { return std::string("instance-id: fixed\n"); }, kHost);
  EXPECT_EQ(custom_meta.files["meta-data"], "instance-id: fixed\n");

  conf.values["cicustom"] = "user=local:snippets/missing.yaml";
  EXPECT_THROW(generate_cloudinit(100, conf, [](const std::string& v) -> std::string { throw Error(v + " is gone"); }, kHost),
               Error);
}

TEST(CloudInit, DumpMasksThePasswordButKeepsTheInstanceId) {
  auto conf = web_vm();
  auto masked = cloudinit_dump(100, conf, "user", true, kHost);
  EXPECT_NE(masked.find("password: **********\n"), std::string::npos);
  EXPECT_EQ(masked.find("$6$abc$hash"), std::string::npos);
  auto files = generate_cloudinit(100, conf, {}, kHost);
  EXPECT_EQ(cloudinit_dump(100, conf, "meta", true, kHost), files.files["meta-data"]);
  EXPECT_EQ(cloudinit_dump(100, conf, "network", true, kHost), kWebNetwork);
}

TEST(CloudInit, NicWithoutMacIsAnError) {
  auto conf = section({{"net0", "model=virtio,bridge=vmbr0"}, {"ipconfig0", "ip=dhcp"}});
  try {
    generate_cloudinit(100, conf, {}, kHost);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "network interface 'net0' has no mac address");
  }
}

TEST(CloudInit, TooBigSnippetsAreRefused) {
  auto conf = section({{"cicustom", "user=local:snippets/big.yaml"}});
  auto big = [](const std::string&) { return std::string(3 * 1024 * 1024 + 1, 'x'); };
  EXPECT_THROW(generate_cloudinit(100, conf, big, kHost), Error);
}

TEST(CloudInit, IsoHoldsTheFilesUnderTheVolumeLabel) {
  TempDir dir;
  const fs::path iso = dir.path / "vm-100-cloudinit.iso";
  auto files = generate_cloudinit(100, web_vm(), {}, kHost);
  make_cloudinit_iso(files, iso);
  ASSERT_TRUE(fs::is_regular_file(iso));
  auto info = run_command({"isoinfo", "-d", "-i", iso.string()}).out;
  EXPECT_NE(info.find("Volume id: cidata"), std::string::npos) << info;
  EXPECT_EQ(iso_file(iso, "/user-data"), kWebUserData);
  EXPECT_EQ(iso_file(iso, "/network-config"), kWebNetwork);
  EXPECT_EQ(iso_file(iso, "/meta-data"), files.files["meta-data"]);
  // Nothing but the image is left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);

  // Regenerating replaces the image in place.
  auto conf = web_vm();
  conf.values["name"] = "web2";
  auto again = generate_cloudinit(100, conf, {}, kHost);
  make_cloudinit_iso(again, iso);
  EXPECT_NE(iso_file(iso, "/user-data").find("hostname: web2\n"), std::string::npos);

  auto cd = generate_cloudinit(100, section({{"citype", "configdrive2"}}), {}, kHost);
  const fs::path cd_iso = dir.path / "cd.iso";
  make_cloudinit_iso(cd, cd_iso);
  EXPECT_NE(run_command({"isoinfo", "-d", "-i", cd_iso.string()}).out.find("Volume id: config-2"), std::string::npos);
  EXPECT_EQ(iso_file(cd_iso, "/openstack/latest/meta_data.json"), cd.files["openstack/latest/meta_data.json"]);
}

TEST(CloudInit, PasswordIsHashedWithSha512Crypt) {
  const std::string pw = "s3cret pw";
  auto hashed = hash_cipassword(pw, "l26");
  ASSERT_TRUE(hashed.starts_with("$6$")) << hashed;
  auto salt_end = hashed.find('$', 3);
  ASSERT_NE(salt_end, std::string::npos);
  const std::string salt = hashed.substr(3, salt_end - 3);
  EXPECT_EQ(salt.size(), 16u);
  auto check = run_command({"openssl", "passwd", "-6", "-salt", salt, "-stdin"}, CommandOptions{.input = pw});
  EXPECT_EQ(std::string(trim(check.out)), hashed);
  EXPECT_NE(hash_cipassword(pw, ""), hashed);  // a fresh salt every time
  EXPECT_EQ(hash_cipassword("$5$abcdefgh$xyz", "l26"), "$5$abcdefgh$xyz");
  EXPECT_TRUE(hash_cipassword("$6$incomplete", "l26").starts_with("$6$"));
  EXPECT_NE(hash_cipassword("$6$incomplete", "l26"), "$6$incomplete");
}

TEST(CloudInit, PendingChangesAgainstTheImage) {
  GuestConfig cfg;
  cfg.main = section({{"ciuser", "admin"}, {"nameserver", "1.1.1.1"}, {"cipassword", "$6$x$y"}, {"ipconfig0", "ip=dhcp"},
                      {"cores", "1"}});
  auto change = [&](const std::string& key, std::optional<std::string> value) {
    std::optional<std::string> old;
    if (cfg.main.has(key)) old = cfg.main.values[key];
    record_cloudinit_change(cfg, key, old, value);
    if (value) cfg.main.values[key] = *value;
    else cfg.main.values.erase(key);
  };
  EXPECT_EQ(cloudinit_pending(cfg),
            Json::parse(R"([{"key":"cipassword","value":"**********"},{"key":"ciuser","value":"admin"},
                            {"key":"nameserver","value":"1.1.1.1"}])"));

  change("ciuser", "bob");
  change("ciuser", "carol");  // the image still has admin
  change("searchdomain", "ex.com");
  change("nameserver", std::nullopt);
  change("cores", "2");  // not a cloud-init key
  change("ipconfig0", "ip=10.0.0.2/24");
  EXPECT_FALSE(cfg.special["cloudinit"].has("cores"));
  EXPECT_EQ(cfg.special["cloudinit"].values["added"], "searchdomain");
  EXPECT_EQ(cfg.special["cloudinit"].values["ciuser"], "admin");
  EXPECT_EQ(cloudinit_pending(cfg),
            Json::parse(R"([{"key":"searchdomain","pending":"ex.com"},
                            {"key":"cipassword","value":"**********"},
                            {"key":"ciuser","value":"admin","pending":"carol"},
                            {"key":"nameserver","delete":1}])"));

  // Going back to what the image has clears the records.
  change("ciuser", "admin");
  change("searchdomain", std::nullopt);
  change("nameserver", "1.1.1.1");
  change("ipconfig0", "ip=dhcp");
  EXPECT_FALSE(cfg.special.count("cloudinit"));
  EXPECT_TRUE(is_cloudinit_tracked_key("net3"));
  EXPECT_TRUE(is_cloudinit_tracked_key("name"));
  EXPECT_FALSE(is_cloudinit_key("name"));
  EXPECT_TRUE(is_cloudinit_key("ipconfig31"));
  EXPECT_FALSE(is_cloudinit_key("ipconfig32"));
}

// The image in a real `dir` storage: allocated as PVE names it, written with qemu-img, readable.
class CloudInitVolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<cluster::SqliteStore>(dir_.path / "config.db", "node1");
    storage_ = std::make_unique<storage::StorageService>(*store_, storage::HostEnv{.node = "node1", .data_dir = dir_.path});
    storage_->initialize();
    local_ = storage_->get("local").path();
  }

  // The volume's content as a raw image, for isoinfo.
  fs::path as_raw(const CloudInitImage& image) {
    if (image.format == "raw") return image.path;
    const fs::path raw = dir_.path / "check.raw";
    run_command({"qemu-img", "convert", "-f", image.format, "-O", "raw", image.path, raw.string()});
    return raw;
  }

  TempDir dir_;
  std::unique_ptr<cluster::SqliteStore> store_;
  std::unique_ptr<storage::StorageService> storage_;
  fs::path local_;
};

TEST_F(CloudInitVolumeTest, AllocatesWithPveNames) {
  EXPECT_EQ(alloc_cloudinit_volume(*storage_, 100, "local"), "local:100/vm-100-cloudinit.qcow2");
  EXPECT_EQ(alloc_cloudinit_volume(*storage_, 101, "local", "raw"), "local:101/vm-101-cloudinit.raw");
  EXPECT_EQ(fs::file_size(local_ / "images/101/vm-101-cloudinit.raw"), static_cast<std::uintmax_t>(kCloudInitDiskSize));
}

TEST_F(CloudInitVolumeTest, RegeneratesTheImageAndClearsTheRecord) {
  GuestConfig cfg;
  cfg.main = web_vm();
  cfg.main.values["ide2"] = alloc_cloudinit_volume(*storage_, 100, "local") + ",media=cdrom";
  cfg.main.values["scsi0"] = "local:100/vm-100-disk-0.qcow2,size=4G";
  cfg.special["cloudinit"].values["name"] = "old-name";
  ASSERT_EQ(find_cloudinit_drive(cfg.main)->key, "ide2");

  const VmPaths paths(dir_.path / "run", 100);
  std::vector<std::string> log;
  auto image = apply_cloudinit(*storage_, paths, 100, cfg, [&](const std::string& l) { log.push_back(l); }, kHost);
  ASSERT_TRUE(image);
  EXPECT_EQ(image->drive_key, "ide2");
  EXPECT_EQ(image->format, "qcow2");
  EXPECT_EQ(image->path, (local_ / "images/100/vm-100-cloudinit.qcow2").string());
  EXPECT_TRUE(image->config_changed);
  EXPECT_FALSE(cfg.special.count("cloudinit"));
  EXPECT_EQ(log, std::vector<std::string>{"generating cloud-init ISO"});
  const fs::path raw = as_raw(*image);
  EXPECT_EQ(iso_file(raw, "/user-data"), kWebUserData);
  EXPECT_EQ(iso_file(raw, "/network-config"), kWebNetwork);
  // The plain ISO stays in the run directory for a raw cdrom attachment.
  EXPECT_EQ(image->iso, paths.cloudinit_iso().string());
  EXPECT_EQ(iso_file(image->iso, "/user-data"), kWebUserData);

  // Nothing recorded: the image is rewritten, the config needs no save.
  cfg.main.values["name"] = "renamed";
  auto again = apply_cloudinit(*storage_, paths, 100, cfg, {}, kHost);
  EXPECT_FALSE(again->config_changed);
  EXPECT_NE(iso_file(as_raw(*again), "/user-data").find("hostname: renamed\n"), std::string::npos);
}

TEST_F(CloudInitVolumeTest, UnallocatedDriveAndSnippets) {
  fs::create_directories(local_ / "snippets");
  std::ofstream(local_ / "snippets/user.yaml") << "#cloud-config\nruncmd: [true]\n";
  GuestConfig cfg;
  cfg.main = section({{"ide0", "local:cloudinit,format=raw"}, {"cicustom", "user=local:snippets/user.yaml"}});
  auto image = apply_cloudinit(*storage_, VmPaths(dir_.path / "run", 105), 105, cfg, {}, kHost);
  ASSERT_TRUE(image);
  EXPECT_EQ(image->volid, "local:105/vm-105-cloudinit.raw");
  EXPECT_TRUE(image->config_changed);
  EXPECT_EQ(cfg.main.values["ide0"], "local:105/vm-105-cloudinit.raw,media=cdrom");
  EXPECT_EQ(iso_file(image->path, "/user-data"), "#cloud-config\nruncmd: [true]\n");

  cfg.main.values["cicustom"] = "user=local:iso/user.iso";
  try {
    apply_cloudinit(*storage_, VmPaths(dir_.path / "run", 105), 105, cfg, {}, kHost);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "local:iso/user.iso is not in the snippets directory");
  }
  GuestConfig no_drive;
  no_drive.main = section({{"ide2", "local:iso/debian.iso,media=cdrom"}});
  EXPECT_FALSE(apply_cloudinit(*storage_, VmPaths(dir_.path / "run", 106), 106, no_drive, {}, kHost));
}

}  // namespace
}  // namespace pvx::guest::qemu
