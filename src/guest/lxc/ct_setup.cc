// Container setup entry points and the table of what each distribution gets.
#include "guest/lxc/ct_setup.h"

#include <algorithm>
#include <cctype>
#include <array>

#include "base/error.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc {
namespace setup {
namespace {

// networkd is the template's network manager when it is enabled in multi-user.target.
bool networkd_enabled(const RootFs& fs) {
  return fs.exists("/etc/systemd/system/multi-user.target.wants/systemd-networkd.service");
}

void network_debian(Context& ctx) {
  setup_ifupdown(ctx);
  if (networkd_enabled(ctx.fs)) setup_networkd(ctx);
}

void network_ubuntu(Context& ctx) {
  // netplan + networkd since 17.10; an unknown version is taken as a current one.
  if (!ctx.version.known() || ctx.version.at_least(17, 10)) {
    setup_networkd(ctx);
  } else {
    setup_ifupdown(ctx);
  }
}

void network_centos(Context& ctx) {
  if (ctx.version.known() && ctx.version.at_least(10)) {
    setup_networkmanager(ctx);
  } else {
    setup_redhat_ifcfg(ctx);
  }
}

void network_fedora(Context& ctx) {
  // networkd since 25; 25-27 templates that still have /etc/sysconfig/network also get ifcfg.
  const int v = ctx.version.known() ? ctx.version.major : 99;
  if (v <= 24 || (v <= 27 && ctx.fs.is_file("/etc/sysconfig/network"))) setup_redhat_ifcfg(ctx);
  if (v >= 25) setup_networkd(ctx);
}

struct Distro {
  std::string_view ostype;
  void (*network)(Context&);
  void (*hostname)(Context&);
};

constexpr std::array<Distro, 10> kDistros = {{
    {"debian", network_debian, set_hostname},
    {"devuan", setup_ifupdown, set_hostname},
    {"ubuntu", network_ubuntu, set_hostname},
    {"alpine", setup_ifupdown, set_hostname},
    {"centos", network_centos, set_hostname_redhat},
    {"fedora", network_fedora, set_hostname_redhat},
    {"opensuse", setup_suse, set_hostname},
    {"archlinux", setup_networkd, set_hostname},
    {"gentoo", setup_gentoo, set_hostname_gentoo},
    {"nixos", setup_networkd, set_hostname},
}};

const Distro* find_distro(std::string_view ostype) {
  for (const auto& d : kDistros)
    if (d.ostype == ostype) return &d;
  return nullptr;
}

// The distribution to set up: the detected one (as PVE), or the configured ostype when detection
// fails and the admin named one we know.
std::string choose_ostype(const RootFs& fs, const SetupParams& params) {
  try {
    std::string found = detect(fs);
    if (!params.ostype.empty() && found != params.ostype && params.log) {
      params.log("WARN: container ostype is '" + params.ostype + "' but its files say '" + found + "'; setting it up as '" + found + "'");
    }
    return found;
  } catch (const Error&) {
    if (params.ostype == "unmanaged" || find_distro(params.ostype)) return params.ostype;
    throw;
  }
}

void start_setup(RootFs& fs, const SetupParams& params, const std::string& ostype) {
  const Distro* distro = find_distro(ostype);
  if (!distro) return;  // unmanaged
  Context ctx{fs, params, ostype, distro_version(fs, ostype), {}, {}};
  resolve_dns(ctx);
  distro->network(ctx);
  distro->hostname(ctx);
  set_dns(ctx);
}

}  // namespace

void Context::warn(const std::string& message) const {
  if (params.log) params.log("WARN: " + message);
}

std::vector<const SetupNet*> Context::nets() const {
  std::vector<const SetupNet*> out;
  for (const auto& n : params.nets) {
    // The name becomes a file name: refuse anything that is not a plain interface name.
    if (n.name.empty()) continue;
    const bool plain = n.name != "." && n.name != ".." && n.name.size() <= 15 &&
                       std::all_of(n.name.begin(), n.name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
                       });
    if (!plain) throw Error("invalid container interface name '" + n.name + "'", 500);
    out.push_back(&n);
  }
  std::stable_sort(out.begin(), out.end(), [](const SetupNet* a, const SetupNet* b) { return a->index < b->index; });
  return out;
}

}  // namespace setup

void setup_at_start(const std::filesystem::path& rootfs, const SetupParams& params) {
  if (params.ostype == "unmanaged") return;
  RootFs fs(rootfs, params.root_uid, params.root_gid);
  const std::string ostype = setup::choose_ostype(fs, params);
  setup::start_setup(fs, params, ostype);
}

void setup_at_create(const std::filesystem::path& rootfs, const SetupParams& params,
                     const std::optional<std::string>& password, const std::string& ssh_public_keys) {
  if (params.ostype == "unmanaged") return;
  RootFs fs(rootfs, params.root_uid, params.root_gid);
  const std::string ostype = setup::choose_ostype(fs, params);
  if (ostype == "unmanaged") return;
  setup::Context ctx{fs, params, ostype, setup::distro_version(fs, ostype), {}, {}};
  setup::clear_machine_id(ctx);
  setup::set_root_password(ctx, password);
  setup::set_root_ssh_keys(ctx, ssh_public_keys);
  setup::start_setup(fs, params, ostype);
}

}  // namespace pvx::guest::lxc
