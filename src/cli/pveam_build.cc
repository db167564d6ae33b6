#include "cli/pveam_build.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "cli/client.h"
#include "cli/local_args.h"
#include "cli/output.h"

namespace pvx::cli {
namespace {

namespace fs = std::filesystem;

// The template's boot script: PVE writes Debian's ifupdown format; busybox's own ifup does not
// read all of it (a CIDR address, inet6 auto), so the stanzas are applied with `ip` here.
constexpr const char* kRcS = R"(#!/bin/sh
# pvx busybox template: hostname and network from the files pvx writes at every start.
mount -t tmpfs -o mode=0755 tmpfs /run 2>/dev/null
hostname -F /etc/hostname 2>/dev/null
ip link set lo up
prefix_of() {
  n=0
  for o in $(echo "$1" | tr . ' '); do
    case $o in 255) n=$((n+8));; 254) n=$((n+7));; 252) n=$((n+6));; 248) n=$((n+5));;
      240) n=$((n+4));; 224) n=$((n+3));; 192) n=$((n+2));; 128) n=$((n+1));; esac
  done
  echo $n
}
apply() {
  [ -n "$dev" ] || return 0
  ip link set "$dev" up
  case "$method" in
    static)
      case "$addr" in */*) a=$addr;; *) a=$addr/$(prefix_of "${mask:-255.255.255.0}");; esac
      if [ "$family" = inet6 ]; then ip -6 addr add "$a" dev "$dev"; else ip addr add "$a" dev "$dev"; fi
      if [ -n "$gw" ]; then
        if [ "$family" = inet6 ]; then ip -6 route add default via "$gw" dev "$dev"
        else ip route add "$gw" dev "$dev" 2>/dev/null; ip route add default via "$gw" dev "$dev"; fi
      fi;;
    dhcp) [ "$family" = inet ] && udhcpc -b -q -i "$dev" -s /etc/udhcpc.script >/dev/null 2>&1;;
  esac
  dev=; family=; method=; addr=; mask=; gw=
}
while read -r key a b c rest; do
  case "$key" in
    iface) apply; [ "$a" = lo ] || { dev=$a; family=$b; method=$c; };;
    address) addr=$a;;
    netmask) mask=$a;;
    gateway) gw=$a;;
  esac
done < /etc/network/interfaces
apply
)";

constexpr const char* kUdhcpcScript = R"(#!/bin/sh
# Applies a busybox udhcpc lease.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    [ -n "$dns" ] && { for s in $dns; do echo "nameserver $s"; done > /etc/resolv.conf; };;
esac
)";

constexpr const char* kInittab = R"(::sysinit:/etc/init.d/rcS
console::respawn:-/bin/sh
tty1::respawn:/bin/getty 38400 tty1
tty2::respawn:/bin/getty 38400 tty2
::ctrlaltdel:/bin/reboot
::shutdown:/bin/umount -a -r
)";

void write(const fs::path& p, const std::string& text, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
  ::chmod(p.c_str(), mode);
}

std::string busybox_version(const std::string& busybox) {
  auto r = run_command({busybox}, {.check = false});
  std::smatch m;
  static const std::regex re(R"(BusyBox v(\d+\.\d+\.\d+))");
  std::string text = r.out + r.err;
  if (std::regex_search(text, m, re)) return m[1];
  return "0.0.0";
}

// The ELF interpreter and libraries `ldd` names (nothing for a static binary).
std::vector<std::string> shared_objects(const std::string& binary) {
  auto r = run_command({"ldd", binary}, {.check = false});
  std::vector<std::string> out;
  static const std::regex path_re(R"((/[^\s]+))");
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("not a dynamic executable") != std::string::npos) return {};
    std::smatch m;
    if (std::regex_search(line, m, path_re)) out.push_back(m[1]);
  }
  return out;
}

std::string build_busybox(const fs::path& root) {
  std::string busybox = find_program("busybox");
  if (busybox.empty()) throw Error("busybox is not installed (Debian packages busybox or busybox-static)", 500);
  busybox = fs::canonical(busybox).string();
  for (const char* d : {"bin", "sbin", "etc/init.d", "etc/network", "root", "tmp", "dev", "proc", "sys", "run",
                        "var/log", "usr/bin", "usr/sbin", "home", "mnt"}) {
    fs::create_directories(root / d);
  }
  ::chmod((root / "tmp").c_str(), 01777);
  ::chmod((root / "root").c_str(), 0700);
  fs::copy_file(busybox, root / "bin/busybox");
  ::chmod((root / "bin/busybox").c_str(), 0755);
  for (const auto& lib : shared_objects(busybox)) {
    fs::path target = root / fs::path(lib).relative_path();
    fs::create_directories(target.parent_path());
    fs::copy_file(fs::canonical(lib), target, fs::copy_options::overwrite_existing);
  }
  // Every applet as a link in /bin; init and the admin tools also where scripts look for them.
  auto applets = run_command({busybox, "--list"}).out;
  for (const auto& name : split_any(applets, "\n")) {
    if (name.empty() || name == "busybox" || name.find('/') != std::string::npos) continue;
    fs::create_symlink("busybox", root / "bin" / name);
  }
  fs::create_symlink("../bin/busybox", root / "sbin/init");
  write(root / "etc/inittab", kInittab);
  write(root / "etc/init.d/rcS", kRcS, 0755);
  write(root / "etc/udhcpc.script", kUdhcpcScript, 0755);
  write(root / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  write(root / "etc/group", "root:x:0:\ntty:x:5:\n");
  write(root / "etc/shadow", "root:*:19000:0:99999:7:::\n", 0640);
  write(root / "etc/hostname", "busybox\n");
  write(root / "etc/hosts", "127.0.0.1\tlocalhost\n");
  write(root / "etc/resolv.conf", "");
  write(root / "etc/network/interfaces", "auto lo\niface lo inet loopback\n");
  write(root / "etc/profile", "export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nexport PS1='\\h:\\w\\$ '\n");
  const std::string version = busybox_version(root / "bin/busybox");
  write(root / "etc/os-release", "NAME=\"BusyBox\"\nID=busybox\nID_LIKE=debian\nVERSION_ID=" + version +
                                     "\nPRETTY_NAME=\"BusyBox " + version + " (pvx template)\"\n");
  return version;
}

void build_debootstrap(const fs::path& root, const std::string& mirror, const std::string& suite) {
  if (mirror.empty()) throw Error::param("mirror", "--debootstrap needs --mirror <url> (a Debian mirror this host reaches)");
  if (!command_exists("debootstrap")) throw Error("debootstrap is not installed", 500);
  run_command({"debootstrap", "--variant=minbase", "--include=ifupdown,iproute2,iputils-ping", suite, root.string(), mirror},
              {.timeout = std::chrono::hours(1)});
  fs::remove_all(root / "var/cache/apt/archives");
  fs::create_directories(root / "var/cache/apt/archives/partial");
}

// The template directory of a file-based storage (its `path` and `content-dirs`).
fs::path template_dir(const Client& client, const std::string& storage) {
  ApiReply r = client.call("GET", "/storage/" + storage, {});
  check_reply(r);
  const auto& conf = r.body["data"];
  if (!conf.contains("path")) throw Error::param("storage", "storage '" + storage + "' has no directory for templates; use --output");
  fs::path dir = fs::path(conf["path"].get<std::string>()) / "template/cache";
  for (const auto& item : split_any(conf.value("content-dirs", ""), ",")) {
    if (item.starts_with("vztmpl=")) dir = fs::path(conf["path"].get<std::string>()) / item.substr(7);
  }
  std::string content = conf.value("content", "");
  if ((","+content+",").find(",vztmpl,") == std::string::npos) {
    throw Error::param("storage", "storage '" + storage + "' does not hold templates (content 'vztmpl')");
  }
  return dir;
}

}  // namespace

int pveam_build(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"output", "name", "debootstrap", "mirror", "suite"});
  const bool deb = a.options.count("debootstrap") && truthy(a.options["debootstrap"]);
  if (a.positional.size() > 1 || (a.positional.empty() && !a.options.count("output"))) {
    throw Error("usage: pveam build <storage> [--output <file>] [--name <name>] [--debootstrap --mirror <url> [--suite <suite>]]", 400);
  }
  char tmpl[] = "/tmp/pvx-pveam-build-XXXXXX";
  if (!::mkdtemp(tmpl)) throw Error("unable to make a work directory", 500);
  const fs::path work = tmpl;
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{work};
  const fs::path root = work / "rootfs";
  fs::create_directories(root);
  std::string name;
  if (deb) {
    const std::string suite = a.options.count("suite") ? a.options["suite"] : "bookworm";
    build_debootstrap(root, a.options.count("mirror") ? a.options["mirror"] : "", suite);
    name = "debian-" + suite + "-minbase-pvx_1_amd64.tar.gz";
  } else {
    std::string version = build_busybox(root);
    std::string major_minor = version.substr(0, version.rfind('.'));
    name = "busybox-" + major_minor + "-pvx_" + version + "-1_amd64.tar.gz";
  }
  if (a.options.count("name")) name = a.options["name"];
  if (name.find('/') != std::string::npos || name.starts_with(".")) throw Error::param("name", "not a file name: '" + name + "'");
  const fs::path tarball = work / name;
  run_command({"tar", "-czf", tarball.string(), "--numeric-owner", "--owner=0", "--group=0", "-C", root.string(), "."},
              {.timeout = std::chrono::hours(1)});
  fs::path target;
  std::string volid;
  if (a.options.count("output")) {
    target = a.options["output"];
  } else {
    Client client(socket_path(global.data_dir));
    target = template_dir(client, a.positional[0]) / name;
    volid = a.positional[0] + ":vztmpl/" + name;
  }
  fs::create_directories(fs::absolute(target).parent_path());
  const fs::path part = target.string() + ".part";
  fs::copy_file(tarball, part, fs::copy_options::overwrite_existing);
  ::chmod(part.c_str(), 0644);
  fs::rename(part, target);
  std::cout << (volid.empty() ? target.string() : volid) << "\n";
  return 0;
}

}  // namespace pvx::cli
