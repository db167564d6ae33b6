// `qm importovf <vmid> <manifest> <storage> [--dryrun] [--format F]`: a VM from an OVF appliance.
// The descriptor is read here; the VM is made through the API (create, then one import-from per
// disk), and a failed import destroys what it made, as PVE does.
#include <fstream>
#include <iostream>
#include <sstream>

#include "base/error.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/local_args.h"
#include "cli/output.h"
#include "guest/qemu/ovf.h"

namespace pvx::cli {
namespace {

using nlohmann::json;

json call(const Client& client, const std::string& method, const std::string& path, const json& params) {
  ApiReply r = client.call(method, path, params);
  check_reply(r);
  return r.body.value("data", json());
}

void run_task(const Client& client, const json& upid, const std::string& what) {
  if (upid.is_string() && follow_task(client, upid.get<std::string>()) != 0) throw Error(what + " failed", 500);
}

}  // namespace

int qm_importovf(const Args& args, const GlobalOptions& global) {
  auto a = parse_local(args, {"dryrun", "format", "node"});
  if (a.positional.size() != 3) {
    throw Error("usage: qm importovf <vmid> <manifest> <storage> [--dryrun 0|1] [--format raw|qcow2|vmdk]", 400);
  }
  const std::string& vmid = a.positional[0];
  if (vmid.empty() || vmid.find_first_not_of("0123456789") != std::string::npos) {
    throw Error::param("vmid", "invalid vmid");
  }
  const std::filesystem::path manifest = std::filesystem::absolute(a.positional[1]);
  std::ifstream in(manifest);
  if (!in) throw Error::param("manifest", "unable to read '" + manifest.string() + "'");
  std::stringstream text;
  text << in.rdbuf();
  auto ovf = guest::qemu::parse_ovf(text.str(), manifest.parent_path());

  json qm = json::object();
  if (!ovf.name.empty()) qm["name"] = ovf.name;
  if (ovf.memory) qm["memory"] = *ovf.memory;
  if (ovf.cores) qm["cores"] = *ovf.cores;
  if (ovf.ostype) qm["ostype"] = *ovf.ostype;
  if (truthy(a.options["dryrun"])) {
    json disks = json::array();
    for (const auto& d : ovf.disks) disks.push_back({{"disk_address", d.disk_address}, {"backing_file", d.backing_file}});
    std::cout << json{{"qm", qm}, {"disks", disks}}.dump(4) << "\n";
    return 0;
  }
  for (const auto& d : ovf.disks) {
    if (!std::filesystem::is_regular_file(d.backing_file)) {
      throw Error("disk image '" + d.backing_file.string() + "' of the OVF does not exist", 400);
    }
  }

  Client client(socket_path(global.data_dir));
  const std::string node = a.options.count("node") ? a.options["node"] : local_node(client);
  const std::string base = "/nodes/" + node + "/qemu";
  json create = qm;
  create["vmid"] = std::stoll(vmid);
  run_task(client, call(client, "POST", base, create), "create VM " + vmid);
  try {
    for (const auto& d : ovf.disks) {
      std::string value = a.positional[2] + ":0,import-from=" + d.backing_file.string();
      if (a.options.count("format")) value += ",format=" + a.options["format"];
      run_task(client, call(client, "POST", base + "/" + vmid + "/config", json{{d.disk_address, value}}),
               "import of '" + d.backing_file.string() + "'");
    }
    if (!ovf.disks.empty()) {
      call(client, "PUT", base + "/" + vmid + "/config", json{{"boot", "order=" + ovf.disks.front().disk_address}});
    }
  } catch (const Error&) {
    // Nothing half made stays: the VM and the disks imported so far go.
    ApiReply r = client.call("DELETE", base + "/" + vmid, json{{"purge", 1}, {"destroy-unreferenced-disks", 1}});
    if (r.status == 200 && r.body.contains("data") && r.body["data"].is_string()) {
      follow_task(client, r.body["data"].get<std::string>());
    }
    throw;
  }
  return 0;
}

}  // namespace pvx::cli
