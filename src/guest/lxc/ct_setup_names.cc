// The container's names: /etc/hostname (or its distribution's equivalent), our section of
// /etc/hosts, and /etc/resolv.conf.
#include "base/atomic_file.h"
#include "base/strings.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {
namespace {

std::string short_name(const std::string& hostname) { return hostname.substr(0, hostname.find('.')); }

std::string hostname_of(const Context& ctx) {
  return ctx.params.hostname.empty() ? std::string("localhost") : ctx.params.hostname;
}

bool has_entry_for(std::string_view hosts, std::string_view address) {
  for (const auto& line : split_any(hosts, "\n")) {
    const std::string_view l = trim(line);
    if (l.rfind(address, 0) == 0 && l.size() > address.size() && (l[address.size()] == ' ' || l[address.size()] == '\t')) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> primary_ip(const SetupParams& params) {
  for (const auto& net : params.nets) {
    if (net.index != 0) continue;
    if (is_static(net.ip)) return net.ip.substr(0, net.ip.find('/'));
    if (is_static(net.ip6)) return net.ip6.substr(0, net.ip6.find('/'));
    return std::nullopt;
  }
  return std::nullopt;
}

void resolve_dns(Context& ctx) {
  // As PVE: what the config leaves out comes from the host's resolv.conf.
  ctx.searchdomains.clear();
  for (const auto& d : split_list(ctx.params.searchdomain)) ctx.searchdomains += (ctx.searchdomains.empty() ? "" : " ") + d;
  for (const auto& ns : ctx.params.nameservers)
    for (const auto& n : split_list(ns)) ctx.nameservers.push_back(n);
  if (!ctx.searchdomains.empty() && !ctx.nameservers.empty()) return;

  const auto host = read_file(ctx.params.host_resolv_conf);
  std::string search;
  std::vector<std::string> servers;
  for (const auto& line : split_any(host.value_or(""), "\n")) {
    const auto words = split_any(line, " \t\r");
    if (words.size() < 2) continue;
    if (words[0] == "nameserver" && servers.size() < 3) servers.push_back(words[1]);
    if (words[0] == "search" || words[0] == "domain") {
      search.clear();
      for (std::size_t i = 1; i < words.size() && words[i][0] != '#'; ++i) search += (search.empty() ? "" : " ") + words[i];
    }
  }
  if (ctx.params.searchdomain.empty()) ctx.searchdomains = search;
  if (ctx.nameservers.empty()) ctx.nameservers = servers;
}

void update_etc_hosts(Context& ctx) {
  constexpr std::string_view kPath = "/etc/hosts";
  if (ctx.fs.ignored(kPath)) return;
  const std::string name = hostname_of(ctx);
  const std::string shortname = short_name(name);

  // A fully qualified name stands for itself; a short one gets one name per search domain.
  std::string names;
  if (name.find('.') != std::string::npos) {
    names = name + " " + shortname;
  } else {
    for (const auto& domain : split_list(ctx.searchdomains)) names += name + "." + domain + " ";
    names += name;
  }

  std::string section;
  const std::string lo4 = "127.0.0.1 localhost.localnet localhost\n";
  const std::string lo6 = "::1 localhost.localnet localhost\n";
  if (auto old = ctx.fs.read(kPath)) {
    const std::string rest = remove_pve_sections(*old);
    if (!has_entry_for(rest, "127.0.0.1")) section += lo4;
    if (!has_entry_for(rest, "::1")) section += lo6;
  } else {
    section = lo4 + lo6;
  }
  if (auto ip = primary_ip(ctx.params)) {
    section += *ip + " " + names + "\n";
  } else if (shortname != "localhost") {
    section += "127.0.1.1 " + names + "\n";
  } else {
    section += "127.0.1.1 " + shortname + "\n";
  }
  modify_file(ctx, kPath, section);
}

void set_hostname(Context& ctx) {
  update_etc_hosts(ctx);
  ctx.fs.write("/etc/hostname", short_name(hostname_of(ctx)) + "\n");
}

void set_hostname_redhat(Context& ctx) {
  // The RHEL family keeps the full name, also in /etc/sysconfig/network's HOSTNAME.
  update_etc_hosts(ctx);
  const std::string name = hostname_of(ctx);
  ctx.fs.write("/etc/hostname", name + "\n");
  constexpr std::string_view kNetwork = "/etc/sysconfig/network";
  auto data = ctx.fs.read(kNetwork);
  if (!data) return;
  std::string out;
  bool replaced = false;
  for (const auto& line : lines_of(*data)) {
    if (!replaced && trim(line).rfind("HOSTNAME=", 0) == 0) {
      out += "HOSTNAME=" + name + "\n";
      replaced = true;
    } else {
      out += line + "\n";
    }
  }
  if (!replaced) out += "HOSTNAME=" + name + "\n";
  ctx.fs.write(kNetwork, out);
}

void set_hostname_gentoo(Context& ctx) {
  update_etc_hosts(ctx);
  ctx.fs.make_dirs("/etc/conf.d");
  ctx.fs.write("/etc/conf.d/hostname", "hostname=\"" + short_name(hostname_of(ctx)) + "\"\n");
}

void set_dns(Context& ctx) {
  std::string data;
  if (!ctx.searchdomains.empty()) data += "search " + ctx.searchdomains + "\n";
  for (const auto& ns : ctx.nameservers) data += "nameserver " + ns + "\n";
  modify_file(ctx, "/etc/resolv.conf", data, Placement::replace);
}

}  // namespace pvx::guest::lxc::setup
