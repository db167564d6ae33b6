// The disk part of cfg2cmd: boot order, OVMF flash, disk controllers and one
// `-drive if=none` + `-device` pair per drive, as qemu-server's config_to_command builds them
// (-drive rather than -blockdev: QEMU 7.2 takes both, -drive keeps PVE 7/8's option names).
#include <cmath>
#include <cstdio>

#include "base/error.h"
#include "base/strings.h"
#include "guest/qemu/cfg2cmd_internal.h"

namespace pvx::guest::qemu::cfg2cmd_detail {
namespace {

constexpr int kMaxSataDisks = 6;
constexpr int kMaxNets = 32;  // net0..31, for the legacy boot order

// Firmware variable store sizes of the OVMF builds (fixed by the build, not by the file we get):
// a raw efidisk on a block device is larger, QEMU must see exactly the store.
constexpr long long kOvmfVars2mBytes = 131072;
constexpr long long kOvmfVars4mBytes = 540672;

bool drive_flag(const Drive& d, const std::string& key) { return is_true(d.opt(key)); }

// A cloud-init drive is a cdrom for QEMU, but a disk for the legacy boot order (as in PVE).
bool is_cdrom_media(const Drive& d) { return d.is_cdrom() || d.is_cloudinit(); }

std::string resolve_volume(const Build& b, const Drive& d) {
  auto it = b.in.volume_paths.find(d.file);
  if (it != b.in.volume_paths.end()) return it->second;
  if (!d.file.empty() && d.file.front() == '/') return d.file;
  throw Error(d.key + ": unable to resolve volume '" + d.file + "' (no path known for it)", 500);
}

std::string storage_type(const Build& b, const std::string& volid) {
  auto it = b.in.volume_storage_types.find(volid);
  return it == b.in.volume_storage_types.end() ? "dir" : it->second;
}

std::string known_format(const Build& b, const Drive& d) {
  if (auto f = d.opt("format"); !f.empty()) return f;
  auto it = b.in.volume_formats.find(d.file);
  if (it != b.in.volume_formats.end()) return it->second;
  return {};
}

// SCSI controller of a drive: (devices per controller, controller number, id prefix).
struct ScsiSlot {
  int maxdev;
  int controller;
  std::string prefix;
};

ScsiSlot scsi_slot(const std::string& scsihw, int index) {
  int maxdev = 256;
  if (scsihw.rfind("lsi", 0) == 0 || scsihw == "pvscsi") maxdev = 7;
  if (scsihw == "virtio-scsi-single") maxdev = 1;
  return {maxdev, index / maxdev, scsihw == "virtio-scsi-single" ? "virtioscsi" : "scsihw"};
}

const std::set<std::string>& scsi_controllers() {
  static const std::set<std::string> known = {"lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas",
                                              "pvscsi"};
  return known;
}

std::string throttling(const Drive& d) {
  std::string out;
  struct Dir {
    const char* conf;
    const char* qemu;
  };
  for (const Dir& dir : {Dir{"", "-total"}, Dir{"_rd", "-read"}, Dir{"_wr", "-write"}}) {
    auto number = [&](const std::string& key) -> double {
      auto v = d.opt(key);
      if (v.empty()) return 0;
      try {
        return std::stod(v);
      } catch (const std::exception&) {
        throw Error(d.key + ": invalid " + key + " '" + v + "'", 500);
      }
    };
    auto bytes = [](double mib) { return std::to_string(static_cast<long long>(mib * 1024 * 1024)); };
    auto whole = [](double v) { return std::to_string(static_cast<long long>(v)); };
    std::string c = dir.conf, q = dir.qemu;
    if (double v = number("mbps" + c)) out += ",throttling.bps" + q + "=" + bytes(v);
    if (double v = number("mbps" + c + "_max")) out += ",throttling.bps" + q + "-max=" + bytes(v);
    if (double v = number("bps" + c + "_max_length")) out += ",throttling.bps" + q + "-max-length=" + whole(v);
    if (double v = number("iops" + c)) out += ",throttling.iops" + q + "=" + whole(v);
    if (double v = number("iops" + c + "_max")) out += ",throttling.iops" + q + "-max=" + whole(v);
    if (double v = number("iops" + c + "_max_length")) out += ",throttling.iops" + q + "-max-length=" + whole(v);
  }
  return out;
}

// `-drive file=..,if=none,id=drive-<key>,...` in qemu-server's option order.
std::string drive_line(const Build& b, const Drive& d) {
  bool cdrom = is_cdrom_media(d);
  std::string path, format;
  std::string storage = "dir";
  if (d.is_cloudinit()) {
    if (!b.in.cloudinit_iso.empty()) {
      path = b.in.cloudinit_iso;
    } else {
      path = resolve_volume(b, d);
    }
    format = "raw";
  } else if (cdrom) {
    if (d.file == "cdrom") {
      auto it = b.in.volume_paths.find("cdrom");
      path = it == b.in.volume_paths.end() ? "/dev/cdrom" : it->second;
    } else if (d.file != "none") {
      path = resolve_volume(b, d);
    }
    // Pinned to raw: an uploaded "ISO" is never probed (a qcow2 one could name a backing file).
    if (!path.empty()) {
      format = known_format(b, d);
      if (format.empty() || format == "iso") format = "raw";
    }
  } else {
    path = resolve_volume(b, d);
    storage = storage_type(b, d.file);
    format = known_format(b, d);
    if (format.empty()) {
      if (d.file.front() != '/') throw Error(d.key + ": no format known for volume '" + d.file + "'", 500);
      format = "raw";
    }
  }

  std::string opts;
  for (const char* key : {"heads", "secs", "cyls", "trans", "media", "cache", "rerror", "werror", "aio", "discard"}) {
    auto v = d.opt(key);
    if (std::string(key) == "media" && v.empty() && cdrom) v = "cdrom";
    if (!v.empty()) opts += std::string(",") + key + "=" + v;
  }
  if (auto v = d.opt("snapshot"); !v.empty()) opts += std::string(",snapshot=") + (is_true(v) ? "on" : "off");
  if (auto v = d.opt("ro"); !v.empty()) opts += std::string(",readonly=") + (is_true(v) ? "on" : "off");
  opts += throttling(d);
  if (!format.empty()) opts += ",format=" + format;

  std::string cache = d.opt("cache");
  bool cache_direct = cache.empty() ? (!cdrom && storage != "btrfs")
                                    : (cache == "off" || cache == "none" || cache == "directsync");
  if (cache.empty() && cache_direct) opts += ",cache=none";
  if (d.opt("aio").empty()) {
    bool uring = storage != "lvm" && storage != "cifs" && !(storage == "rbd" && !cache_direct);
    opts += uring ? ",aio=io_uring" : cache_direct ? ",aio=native" : ",aio=threads";
  }
  if (!cdrom) {
    std::string dz = "on";
    if (auto v = d.opt("detect_zeroes"); !v.empty() && !is_true(v)) {
      dz = "off";
    } else if (auto discard = d.opt("discard"); !discard.empty()) {
      dz = discard == "on" ? "unmap" : "on";
    }
    opts += ",detect-zeroes=" + dz;
  }
  // Templates are never written (their base volumes may be read-only); IDE/SATA cannot be read-only.
  if (is_true(b.conf.get_or("template", "0")) && !cdrom && d.interface != "ide" && d.interface != "sata") {
    opts += ",readonly=on";
  }
  std::string file = path.empty() ? "" : "file=" + qemu_escape(path) + ",";
  return file + "if=none,id=drive-" + d.key + opts;
}

std::string unescaped(const std::string& value) { return qemu_escape(url_decode(value, false)); }

std::string device_line(Build& b, const Drive& d) {
  bool cdrom = is_cdrom_media(d);
  std::string dev;
  if (d.interface == "virtio") {
    dev = "virtio-blk-pci,drive=drive-" + d.key + ",id=" + d.key + b.pci(d.key);
    if (drive_flag(d, "iothread")) dev += ",iothread=iothread-" + d.key;
  } else if (d.interface == "scsi") {
    std::string scsihw = b.conf.get_or("scsihw", "lsi");
    ScsiSlot slot = scsi_slot(scsihw, d.index);
    std::string type = cdrom ? "cd" : "hd";
    std::string bus = slot.prefix + std::to_string(slot.controller) + ".0";
    if (scsihw.rfind("lsi", 0) == 0 || scsihw == "pvscsi") {
      dev = "scsi-" + type + ",bus=" + bus + ",scsi-id=" + std::to_string(d.index % slot.maxdev);
    } else {
      dev = "scsi-" + type + ",bus=" + bus + ",channel=0,scsi-id=0,lun=" + std::to_string(d.index);
    }
    dev += ",drive=drive-" + d.key + ",id=" + d.key;
    if (drive_flag(d, "ssd") && !cdrom) dev += ",rotation_rate=1";
    if (auto wwn = d.opt("wwn"); !wwn.empty()) dev += ",wwn=" + wwn;
  } else if (d.interface == "ide" || d.interface == "sata") {
    int maxdev = d.interface == "sata" ? kMaxSataDisks : 2;
    int controller = d.index / maxdev;
    int unit = d.index % maxdev;
    // q35's AHCI buses take one unit each: odd IDE indices move two buses up (qemu-server's mapping).
    if (b.q35 && d.interface == "ide") {
      controller += 2 * (unit % 2);
      unit = 0;
    }
    std::string type = cdrom ? "cd" : "hd";
    dev = "ide-" + type;
    dev += d.interface == "ide" ? ",bus=ide." + std::to_string(controller) + ",unit=" + std::to_string(unit)
                                : ",bus=ahci" + std::to_string(controller) + "." + std::to_string(unit);
    dev += ",drive=drive-" + d.key + ",id=" + d.key;
    if (!cdrom) {
      if (auto model = d.opt("model"); !model.empty()) dev += ",model=" + unescaped(model);
      if (drive_flag(d, "ssd")) dev += ",rotation_rate=1";
    }
    if (auto wwn = d.opt("wwn"); !wwn.empty()) dev += ",wwn=" + wwn;
  } else {
    throw Error(d.key + ": unsupported drive interface '" + d.interface + "'", 500);
  }
  if (auto it = b.bootorder.find(d.key); it != b.bootorder.end()) dev += ",bootindex=" + std::to_string(it->second);
  if (auto serial = d.opt("serial"); !serial.empty()) dev += ",serial=" + unescaped(serial);
  return dev;
}

void bootorder_from_legacy(const ConfigSection& conf, const std::vector<Drive>& drives, const std::string& legacy,
                           std::map<std::string, int>& order) {
  std::map<char, int> next;
  int position = 1;
  for (char c : legacy) next[c] = 100 * position++;
  std::string bootdisk = conf.get_or("bootdisk", "");
  for (const Drive& d : drives) {
    if (d.is_cdrom() && !d.is_cloudinit()) {
      if (next.count('d')) order[d.key] = next['d']++;
    } else if (next.count('c')) {
      if (bootdisk == d.key) order[d.key] = next['c'];
      ++next['c'];
    }
  }
  if (next.count('n')) {
    for (int i = 0; i < kMaxNets; ++i) {
      std::string key = "net" + std::to_string(i);
      if (conf.has(key)) order[key] = next['n']++;
    }
  }
}

}  // namespace

std::vector<Drive> config_drives(const ConfigSection& conf) {
  std::vector<Drive> drives;
  for (const std::string& key : all_drive_keys()) {
    auto value = conf.get(key);
    if (!value) continue;
    try {
      drives.push_back(parse_drive(key, *value));
    } catch (const Error& e) {
      std::string why = e.params().empty() ? e.what() : e.params().begin()->second;
      throw Error("unable to parse " + key + " '" + *value + "' - " + why, 500);
    }
  }
  return drives;
}

std::map<std::string, int> device_bootorder(const ConfigSection& conf, const std::vector<Drive>& drives) {
  std::map<std::string, int> order;
  auto boot = conf.get("boot");
  if (!boot) {
    bootorder_from_legacy(conf, drives, "cdn", order);
    return order;
  }
  Props props(*boot, "legacy");
  if (auto legacy = props.get("legacy")) {
    bootorder_from_legacy(conf, drives, *legacy, order);
  } else if (auto list = props.get("order")) {
    int index = 100;  // from 100: room for devices a user puts first through `args`
    for (const std::string& dev : split_any(*list, ";, ")) order[dev] = index++;
  }
  return order;
}

void add_ovmf(Build& b, const std::optional<Drive>& efidisk) {
  bool four_m = efidisk && efidisk->opt("efitype") == "4m";
  std::string code = b.in.host.ovmf_code_2m;
  std::string vars_template = b.in.host.ovmf_vars_2m;
  long long vars_size = kOvmfVars2mBytes;
  if (four_m) {
    // The secure-boot capable build needs SMM, which qemu-server only turns on with q35.
    code = b.q35 ? b.in.host.ovmf_code_secboot : b.in.host.ovmf_code;
    vars_template = is_true(efidisk->opt("pre-enrolled-keys")) ? b.in.host.ovmf_vars_ms : b.in.host.ovmf_vars;
    vars_size = kOvmfVars4mBytes;
  }
  b.opt("-drive", "if=pflash,unit=0,format=raw,readonly=on,file=" + qemu_escape(code));

  std::string vars = "if=pflash,unit=1,id=drive-efidisk0";
  if (efidisk) {
    std::string path = resolve_volume(b, *efidisk);
    std::string format = known_format(b, *efidisk);
    if (format.empty()) throw Error("efidisk format must be specified", 500);
    // SPI flash does many read-modify-writes: librbd must cache writes (qemu-server #3329).
    if (path.rfind("rbd:", 0) == 0) {
      vars += ",cache=writeback";
      path += ":rbd_cache_policy=writeback";
    }
    vars += ",format=" + format + ",file=" + qemu_escape(path);
    if (format == "raw") vars += ",size=" + std::to_string(vars_size);
    if (is_true(b.conf.get_or("template", "0"))) vars += ",readonly=on";
  } else {
    // No efidisk: variables live for this run only. qemu-server copies the template to /tmp;
    // snapshot=on gives the same without a file to clean up.
    vars += ",format=raw,file=" + qemu_escape(vars_template) + ",snapshot=on";
  }
  b.opt("-drive", vars);
}

void add_disks(Build& b, const std::vector<Drive>& drives) {
  std::string scsihw = b.conf.get_or("scsihw", "lsi");
  if (!scsi_controllers().count(scsihw)) throw Error("unknown scsihw '" + scsihw + "'", 500);
  std::set<int> scsi_done, ahci_done;
  for (const Drive& d : drives) {
    // efidisk0 is the OVMF flash, tpmstate0 belongs to swtpm: both handled elsewhere.
    if (d.interface == "efidisk" || d.interface == "tpmstate") continue;
    if (d.interface == "virtio" && drive_flag(d, "iothread")) b.opt("-object", "iothread,id=iothread-" + d.key);
    if (d.interface == "scsi") {
      ScsiSlot slot = scsi_slot(scsihw, d.index);
      std::string id = slot.prefix + std::to_string(slot.controller);
      bool single = scsihw == "virtio-scsi-single";
      if (!scsi_done.count(slot.controller)) {
        std::string ctrl = (single ? "virtio-scsi-pci" : scsihw) + ",id=" + id + b.pci(id);
        // iothread is per controller: only virtio-scsi-single has one controller per disk
        // (qemu-server warns and ignores it for the other controllers).
        if (single && drive_flag(d, "iothread")) {
          ctrl += ",iothread=iothread-" + id;
          b.opt("-object", "iothread,id=iothread-" + id);
        }
        if (single) {
          if (auto q = d.opt("queues"); !q.empty()) ctrl += ",num_queues=" + q;
        }
        b.dev("-device", ctrl);
        scsi_done.insert(slot.controller);
      }
    }
    if (d.interface == "sata") {
      int controller = d.index / kMaxSataDisks;
      if (!ahci_done.count(controller)) {
        std::string id = "ahci" + std::to_string(controller);
        b.dev("-device", "ahci,id=" + id + ",multifunction=on" + b.pci(id));
        ahci_done.insert(controller);
      }
    }
    b.dev("-drive", drive_line(b, d));
    b.dev("-device", device_line(b, d));
  }
}

}  // namespace pvx::guest::qemu::cfg2cmd_detail
