// NFS and CIFS scans: `showmount --exports` and `smbclient -L`, as PVE runs them.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "storage/plugins/mount_util.h"
#include "storage/scan.h"

namespace pvx::storage::scan {
namespace {

constexpr auto kScanTimeout = std::chrono::seconds(30);

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

// The tools get an address, not a name, as in PVE: name resolution errors are reported as ours.
std::string resolve_server(const std::string& server) {
  check_server("server", server);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string host = strip_brackets(server);
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res)
    throw Error("unable to resolve address for server '" + server + "'", 400);
  char buf[INET6_ADDRSTRLEN] = {};
  const void* addr = res->ai_family == AF_INET6
                         ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr)
                         : static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr);
  const char* ok = ::inet_ntop(res->ai_family, addr, buf, sizeof buf);
  ::freeaddrinfo(res);
  if (!ok) throw Error("unable to resolve address for server '" + server + "'", 400);
  return buf;
}

}  // namespace

std::vector<NfsExport> parse_showmount(std::string_view output) {
  // "<path> <clients>", one export per line; PVE keys by path, so a repeated path keeps the last.
  std::map<std::string, std::string> exports;
  for (const auto& line : lines_of(output)) {
    std::string_view l = trim(line);
    if (l.empty() || l.front() != '/') continue;  // "Export list for ...:" header, errors
    auto sep = l.find_first_of(" \t");
    if (sep == std::string_view::npos) continue;
    auto options = trim(l.substr(sep));
    if (options.empty()) continue;
    exports[std::string(l.substr(0, sep))] = std::string(options);
  }
  std::vector<NfsExport> out;
  for (auto& [path, options] : exports) out.push_back({path, options});
  return out;
}

std::vector<CifsShare> parse_smbclient_list(std::string_view output) {
  std::map<std::string, std::string> shares;
  for (const auto& line : lines_of(output)) {
    if (line.find("NT_STATUS_") != std::string::npos) continue;
    if (line.starts_with("Disk|")) {
      // Grepable: "Disk|<share>|<comment>"; the comment may itself hold '|'.
      auto rest = std::string_view(line).substr(5);
      auto bar = rest.find('|');
      std::string share(rest.substr(0, bar));
      std::string comment = bar == std::string_view::npos ? "" : std::string(rest.substr(bar + 1));
      if (!share.empty()) shares[share] = comment;
      continue;
    }
    // Tabular (without -g): "\t<share>   Disk   <comment>".
    std::istringstream words(line);
    std::string share, type;
    if (line.find('|') == std::string::npos && (words >> share >> type) && type == "Disk") {
      std::string comment;
      std::getline(words, comment);
      shares[share] = std::string(trim(comment));
    }
  }
  std::vector<CifsShare> out;
  for (auto& [share, description] : shares) out.push_back({share, description});
  return out;
}

std::vector<NfsExport> nfs(const std::string& server) {
  auto address = resolve_server(server);
  auto r = run_command({"showmount", "--no-headers", "--exports", address}, {.timeout = kScanTimeout});
  return parse_showmount(r.out);
}

std::vector<CifsShare> cifs(const std::string& server, const std::string& username, const std::string& password,
                            const std::string& domain) {
  auto address = resolve_server(server);
  // SMB3 only, as PVE: servers older than Windows 2012 are not supported.
  std::vector<std::string> argv{"smbclient", "-m", "smb3", "-d", "0", "-g", "-L", address};
  if (!domain.empty()) argv.insert(argv.end(), {"-W", domain});
  CommandOptions opts{.timeout = kScanTimeout, .check = false};
  if (password.empty()) argv.push_back("-N");
  else opts.env.push_back("PASSWD=" + password);  // never in argv, where `ps` shows it
  if (!username.empty()) opts.env.push_back("USER=" + username);
  auto r = run_command(argv, opts);
  auto shares = parse_smbclient_list(r.out);
  if (!shares.empty()) return shares;  // later errors (workgroup listing) do not matter then
  std::string err;
  for (const auto& text : {r.out, r.err}) {
    for (const auto& line : lines_of(text)) {
      auto pos = line.find("NT_STATUS_");
      if (pos == std::string::npos) continue;
      auto end = line.find_first_of(" \t", pos);
      std::string status = line.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      if (status != "NT_STATUS_SUCCESS") err = "unexpected status: " + status;
    }
  }
  if (err.empty() && r.exit_code != 0) {
    std::string last;
    for (const auto& line : lines_of(r.err)) if (!trim(line).empty()) last = std::string(trim(line));
    err = "smbclient failed" + (last.empty() ? "" : ": " + last) + " (exit code " + std::to_string(r.exit_code) + ")";
  }
  if (!err.empty()) throw Error(err, 500);
  return shares;
}

}  // namespace pvx::storage::scan
