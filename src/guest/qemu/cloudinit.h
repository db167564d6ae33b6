#pragma once
// Cloud-init for VMs as qemu-server does it: the config's ci* keys (ciuser, cipassword, sshkeys,
// ipconfigN, nameserver, searchdomain, citype, ciupgrade, cicustom) become NoCloud (or
// ConfigDrive v2) files, written into an ISO 9660 image labelled "cidata" ("config-2") that a
// cloud-init drive (`ide2: local:cloudinit`) attaches. Generation is pure; only make_iso runs a tool.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "guest/guest_config.h"
#include "schema/schema.h"

namespace pvx::guest::qemu {

struct CloudInitFiles {
  std::string citype;  // nocloud | configdrive2
  // path inside the image -> content ("user-data", "meta-data", "network-config" for NoCloud;
  // "openstack/latest/user_data", ... for configdrive2).
  std::map<std::string, std::string> files;
};

// Reads a `cicustom` snippet ("local:snippets/user.yaml") for the part it replaces.
using SnippetReader = std::function<std::string(const std::string& volid)>;

// `conf` is the main section (the applied config); `vmid` and `name` feed meta-data.
CloudInitFiles generate_cloudinit(std::int64_t vmid, const ConfigSection& conf, const SnippetReader& read_snippet);

// One part as GET /cloudinit/dump?type=user|network|meta returns it.
std::string cloudinit_dump(std::int64_t vmid, const ConfigSection& conf, const std::string& type,
                           const SnippetReader& read_snippet);

// Writes the files into an ISO at `iso_path` (genisoimage, Joliet + Rock Ridge, volume id
// "cidata" or "config-2"), atomically (temp file + rename).
void make_cloudinit_iso(const CloudInitFiles& files, const std::string& iso_path);

// The cloud-init keys (for the pending view and for deciding regeneration).
bool is_cloudinit_key(std::string_view key);
// GET /cloudinit: [{key, value?, pending?, delete?}] comparing the config with what the current
// image was made from (the [special:cloudinit] section).
schema::Json cloudinit_pending(const GuestConfig& config);

// cipassword as stored: a SHA-512 crypt hash unless it already is one (PVE keeps Windows
// guests' plain text: `ostype` win*).
std::string hash_cipassword(const std::string& password, const std::string& ostype);

}  // namespace pvx::guest::qemu
