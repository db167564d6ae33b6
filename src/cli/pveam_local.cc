// pveam commands that run in the CLI process: `update` fetches the appliance indexes of the
// configured sources into the data directory (as PVE's pveam does on the node), `list` and
// `remove` work on a storage's templates, and `build` makes a container template offline from
// the host's busybox (or with debootstrap from a given mirror).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/local_args.h"
#include "cli/output.h"
#include "cli/pveam_build.h"
#include "storage/aplinfo.h"
#include "storage/url_download.h"

namespace pvx::cli {
namespace {

namespace fs = std::filesystem;

fs::path data_dir(const GlobalOptions& global) { return socket_path(global.data_dir).parent_path(); }

// `pveam update`: every source's index, each replaced only when the new one parsed.
int update(const Args& args, const GlobalOptions& global) {
  parse_local(args, {});
  const fs::path dir = data_dir(global);
  fs::create_directories(dir / "apl-info");
  int failed = 0;
  for (const auto& url : storage::aplinfo_sources(dir)) {
    const fs::path file = storage::aplinfo_index_file(dir, url);
    const fs::path tmp = file.string() + ".tmp";
    try {
      UniqueFd fd(::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644));
      if (fd.fd < 0) throw Error("unable to create '" + tmp.string() + "'", 500);
      storage::DownloadOptions opts{.max_size = 64 << 20, .connect_timeout = std::chrono::seconds(10),
                                    .stall_timeout = std::chrono::seconds(30)};
      if (const char* ca = std::getenv("PVX_DOWNLOAD_CA_FILE")) opts.ca_file = ca;
      storage::download_url(url, fd.fd, opts);
      fd.reset();
      std::string text = read_file(tmp).value_or("");
      if (text.size() > 2 && static_cast<unsigned char>(text[0]) == 0x1f && static_cast<unsigned char>(text[1]) == 0x8b) {
        text = run_command({"gzip", "-dc", tmp.string()}).out;  // an index published as .gz
      }
      auto entries = storage::parse_aplinfo(text, url);
      if (entries.empty()) throw Error("no templates in the index", 500);
      write_file_atomic(file, text);
      fs::remove(tmp);
      std::cout << "update successful: " << url << " (" << entries.size() << " templates)\n";
    } catch (const std::exception& e) {
      std::error_code ec;
      fs::remove(tmp, ec);
      std::cerr << "update failed - " << url << ": " << e.what() << "\n";
      ++failed;
    }
  }
  return failed == 0 ? 0 : 1;
}

// `pveam list <storage>`: PVE's two columns.
int list(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {});
  if (a.positional.size() != 1) throw Error("usage: pveam list <storage>", 400);
  Client client(socket_path(global.data_dir));
  const std::string node = local_node(client);
  ApiReply r = client.call("GET", "/nodes/" + node + "/storage/" + a.positional[0] + "/content", {{"content", "vztmpl"}});
  check_reply(r);
  std::printf("%-60s %-10s\n", "NAME", "SIZE");
  for (const auto& v : r.body.value("data", nlohmann::json::array())) {
    double mb = static_cast<double>(v.value("size", std::int64_t{0})) / (1024.0 * 1024.0);
    std::printf("%-60s %.2fMB\n", v.value("volid", "").c_str(), mb);
  }
  return 0;
}

// `pveam remove <storage>:vztmpl/<name>`
int remove(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {});
  if (a.positional.size() != 1) throw Error("usage: pveam remove <template volid>", 400);
  const std::string& volid = a.positional[0];
  auto colon = volid.find(':');
  if (colon == std::string::npos || volid.compare(colon + 1, 7, "vztmpl/") != 0) {
    throw Error::param("template_path", "'" + volid + "' is not a template volume (storage:vztmpl/name)");
  }
  Client client(socket_path(global.data_dir));
  const std::string node = local_node(client);
  ApiReply r = client.call("DELETE", "/nodes/" + node + "/storage/" + volid.substr(0, colon) + "/content/" + volid, {});
  check_reply(r);
  return 0;
}

}  // namespace

std::string pveam_local_usage() {
  return "\n  pveam update\n"
         "  pveam list <storage>\n"
         "  pveam remove <template volid>\n"
         "  pveam build <storage> [--output <file>] [--name <name>] [--debootstrap --mirror <url> [--suite <suite>]]\n";
}

std::optional<int> run_pveam_local(const Args& args, const GlobalOptions& global) {
  if (args.empty()) return std::nullopt;
  Args rest(args.begin() + 1, args.end());
  if (args[0] == "update") return update(rest, global);
  if (args[0] == "list") return list(rest, global);
  if (args[0] == "remove") return remove(rest, global);
  if (args[0] == "build") return pveam_build(rest, global);
  return std::nullopt;
}

}  // namespace pvx::cli
