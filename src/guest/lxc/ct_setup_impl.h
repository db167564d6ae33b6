#pragma once
// Internals of container setup (ct_setup.h), shared by its ct_setup_*.cc files: the run context,
// the per-distribution writers and small helpers. Not for use outside ct_setup*.cc and its test.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guest/lxc/ct_setup.h"
#include "guest/lxc/rootfs_files.h"

namespace pvx::guest::lxc::setup {

// "12.4" -> {12, 4}; unknown when the text does not start with a number.
struct Version {
  int major = -1;
  int minor = 0;
  static Version parse(std::string_view text);
  bool known() const { return major >= 0; }
  bool at_least(int maj, int min = 0) const { return major > maj || (major == maj && minor >= min); }
};

// One setup run: the rootfs, the parameters, and what was found out about the distribution.
struct Context {
  RootFs& fs;
  const SetupParams& params;
  std::string ostype;       // the distribution whose rules apply
  Version version;          // of that distribution, as far as it matters
  std::string searchdomains;             // space separated; config value or the host's
  std::vector<std::string> nameservers;  // config values or the host's
  void warn(const std::string& message) const;
  // The nets that name an interface, in netN order.
  std::vector<const SetupNet*> nets() const;
};

// --- detection (ct_setup_detect.cc)
std::map<std::string, std::string> parse_os_release(std::string_view text);
std::string detect(const RootFs& fs);
Version distro_version(const RootFs& fs, const std::string& ostype);

// --- files with a PVE-marked section (ct_setup_files.cc)
enum class Placement { append, prepend, replace };
// Text of `old` (nullopt: no file) with our marked section set to `data`; nullopt when the file
// should stay as it is, "" with *remove set when it should be deleted.
std::optional<std::string> splice_section(const std::optional<std::string>& old, std::string data,
                                          Placement placement, bool delete_if_empty, bool* remove);
// Applies splice_section to a file of the rootfs; `mode` for a new file.
void modify_file(Context& ctx, std::string_view path, std::string data,
                 Placement placement = Placement::append, bool delete_if_empty = false, mode_t mode = 0644);
std::string remove_pve_sections(std::string_view text);
std::vector<std::string> split_list(std::string_view text);  // on blanks, commas, semicolons
// Lines without their newlines, empty ones kept except at the end (Perl's split /\n/).
std::vector<std::string> lines_of(std::string_view text);

// --- hostname, hosts, DNS (ct_setup_names.cc)
void update_etc_hosts(Context& ctx);
void set_hostname(Context& ctx);          // /etc/hostname with the short name
void set_hostname_redhat(Context& ctx);   // /etc/hostname and /etc/sysconfig/network, full name
void set_hostname_gentoo(Context& ctx);   // /etc/conf.d/hostname
void set_dns(Context& ctx);               // /etc/resolv.conf
// The address of net0 for /etc/hosts (IPv4 preferred), without prefix length.
std::optional<std::string> primary_ip(const SetupParams& params);
void resolve_dns(Context& ctx);           // fills searchdomains and nameservers

// --- network configuration writers
void setup_ifupdown(Context& ctx);        // /etc/network/interfaces (ct_setup_ifupdown.cc)
void setup_networkd(Context& ctx);        // /etc/systemd/network/*.network (ct_setup_networkd.cc)
void setup_redhat_ifcfg(Context& ctx);    // network-scripts/ifcfg-* (ct_setup_redhat.cc)
void setup_networkmanager(Context& ctx);  // NetworkManager keyfiles (ct_setup_redhat.cc)
void setup_suse(Context& ctx);            // sysconfig/network/ifcfg-* (ct_setup_other.cc)
void setup_gentoo(Context& ctx);          // /etc/conf.d/net (ct_setup_other.cc)

// --- addresses (ct_setup_ip.cc)
struct Cidr {
  std::string address;  // without the prefix length
  int prefix = 0;
  int family = 0;  // AF_INET or AF_INET6
};
std::optional<Cidr> parse_cidr(std::string_view text);
bool ip_in_cidr(std::string_view ip, std::string_view cidr);
std::string ipv4_netmask(int prefix);  // 24 -> "255.255.255.0"
bool is_static(std::string_view ip);   // not "", "dhcp", "manual" or "auto"

// --- accounts (ct_setup_account.cc)
bool looks_like_crypt_hash(std::string_view value);
std::string hash_password(const std::string& password);  // SHA-512 crypt, fresh salt
void set_root_password(Context& ctx, const std::optional<std::string>& password);
void set_root_ssh_keys(Context& ctx, const std::string& keys);
void clear_machine_id(Context& ctx);

}  // namespace pvx::guest::lxc::setup
