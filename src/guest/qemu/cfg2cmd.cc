// VM config -> QEMU argv, after qemu-server's config_to_command (PVE 8.0, QEMU 7.2 machines),
// adapted to a QEMU that pvxd spawns and supervises itself:
// - no -id (a Proxmox QEMU patch, unknown to Debian's QEMU): the pid pvxd keeps names the VM;
// - no -daemonize and no -pidfile: pvxd forks QEMU, knows its pid and writes <vmid>.pid itself
//   (a -pidfile would be a second writer of the same file);
// - no qmeventd socket; VNC on a unix socket without password=on (pvxd authenticates the
//   websocket); taps are created and bridged by pvxd, so -netdev runs no script;
// - Debian's QEMU has no "+pveN" machine variants: machines are plain pc-i440fx-X.Y/pc-q35-X.Y,
//   and q35's -readconfig pve-q35-4.0.cfg is written out as -device options (without its
//   placeholder audio device);
// - accelerator: `-accel kvm`, or `-accel tcg` when the host has no KVM or the config says
//   `kvm: 0`. TCG gets qemu64 as default CPU (as qemu-server does with kvm off) and `host`
//   becomes `max` (host needs KVM); no enforce, no kvm_pv_* and no Hyper-V flags, no kvm-pit;
// - USB passthrough always uses qemu-xhci; spice (qxl keeps its device, no -spice), custom CPU
//   models, CPU/memory hotplug (static -smp/-m) and mediated devices are not supported.
#include "guest/qemu/cfg2cmd.h"

#include <algorithm>
#include <cstdio>
#include <regex>

#include "base/error.h"
#include "base/strings.h"
#include "guest/qemu/cfg2cmd_internal.h"
#include "guest/qemu/cpu_models.h"
#include "guest/qemu/shell_words.h"

namespace pvx::guest::qemu {
namespace cfg2cmd_detail {

Props::Props(std::string_view text, std::string_view default_key) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = trim(text.substr(start, end - start));
    if (!part.empty()) {
      auto eq = part.find('=');
      if (eq == std::string_view::npos) {
        items_.emplace_back(std::string(default_key), std::string(part));
      } else {
        items_.emplace_back(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
      }
    }
    start = end + 1;
  }
}

std::optional<std::string> Props::get(const std::string& key) const {
  for (const auto& [k, v] : items_) {
    if (k == key) return v;
  }
  return std::nullopt;
}

std::string Props::get_or(const std::string& key, const std::string& fallback) const {
  auto v = get(key);
  return v ? *v : fallback;
}

bool Props::flag(const std::string& key, bool fallback) const {
  auto v = get(key);
  return v ? is_true(*v) : fallback;
}

bool is_true(std::string_view value) {
  std::string v = to_lower(value);
  return v == "1" || v == "on" || v == "yes" || v == "true";
}

std::string qemu_escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

long long config_int(std::string_view key, std::string_view value) {
  try {
    std::size_t used = 0;
    long long v = std::stoll(std::string(value), &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error("invalid value for " + std::string(key) + ": '" + std::string(value) + "'", 500);
}

int windows_version(std::string_view ostype) {
  if (ostype == "wxp" || ostype == "w2k3" || ostype == "w2k") return 5;
  if (ostype == "w2k8" || ostype == "wvista") return 6;
  if (ostype.rfind("win", 0) == 0) {
    if (auto v = to_int(ostype.substr(3))) return *v;
  }
  return 0;
}

// qemu-server's fixed PCI layout, so a device keeps its slot whatever else the config holds:
// id -> (bus, slot) on pci.0 .. pci.4.
std::string Build::pci(const std::string& id) {
  static const std::map<std::string, std::pair<int, int>> fixed = {
      {"piix3", {0, 1}},    {"vga", {0, 2}},     {"balloon0", {0, 3}}, {"watchdog", {0, 4}}, {"scsihw0", {0, 5}},
      {"pci.3", {0, 5}},    {"scsihw1", {0, 6}}, {"ahci0", {0, 7}},    {"qga0", {0, 8}},     {"spice", {0, 9}},
      {"hostpci0", {0, 16}}, {"hostpci1", {0, 17}}, {"vga1", {0, 24}}, {"vga2", {0, 25}},    {"vga3", {0, 26}},
      {"hostpci2", {0, 27}}, {"hostpci3", {0, 28}}, {"pci.1", {0, 30}}, {"pci.2", {0, 31}},  {"xhci", {1, 27}},
      {"pci.4", {1, 28}},   {"rng0", {1, 29}},   {"ivshmem", {2, 11}}, {"audio0", {2, 12}},  {"scsihw2", {4, 1}},
      {"scsihw3", {4, 2}},  {"scsihw4", {4, 3}},
  };
  std::optional<std::pair<int, int>> slot;
  if (auto it = fixed.find(id); it != fixed.end()) {
    slot = it->second;
  } else {
    std::smatch m;
    static const std::regex numbered("(net|virtio|hostpci|virtioscsi)(\\d+)");
    if (std::regex_match(id, m, numbered)) {
      std::string kind = m[1];
      int n = std::stoi(m[2]);
      if (kind == "net" && n < 6) slot = {0, 18 + n};
      if (kind == "net" && n >= 6 && n < 32) slot = {1, n - 5};
      if (kind == "virtio" && n < 6) slot = {0, 10 + n};
      if (kind == "virtio" && n >= 6 && n < 16) slot = {2, n - 5};
      if (kind == "hostpci" && n >= 4 && n < 16) slot = {2, n + 9};
      if (kind == "virtioscsi" && n < 31) slot = {3, n + 1};
    }
  }
  if (!slot) return {};
  bridges.insert(slot->first);
  char addr[16];
  std::snprintf(addr, sizeof addr, "0x%x", slot->second);
  return ",bus=pci." + std::to_string(slot->first) + ",addr=" + addr;
}

}  // namespace cfg2cmd_detail

using namespace cfg2cmd_detail;

namespace {

constexpr int kMaxSerialPorts = 4;
constexpr int kMaxParallelPorts = 3;
constexpr int kMaxUsbDevices = 14;
constexpr int kMaxHostPci = 16;
constexpr int kMaxNuma = 8;

std::pair<int, int> major_minor(const std::string& version) {
  std::smatch m;
  static const std::regex re("^(\\d+)\\.(\\d+)");
  if (!std::regex_search(version, m, re)) throw Error("unable to parse QEMU version '" + version + "'", 500);
  return {std::stoi(m[1]), std::stoi(m[2])};
}

bool version_below(const std::pair<int, int>& a, const std::pair<int, int>& b) { return a < b; }

// The devices qemu-server's pve-q35-4.0.cfg adds: USB 2 controllers (ehci.0 takes the tablet),
// four PCIe root ports for passthrough and the DMI bridge with pci.0..pci.3 behind it, so the
// i440fx slot layout holds on q35 too.
void add_q35_base(Build& b) {
  b.dev("-device", "ich9-usb-ehci1,id=ehci,multifunction=on,bus=pcie.0,addr=0x1d.0x7");
  for (int i = 1; i <= 3; ++i) {
    b.dev("-device", "ich9-usb-uhci" + std::to_string(i) + ",id=uhci-" + std::to_string(i) +
                         ",multifunction=on,bus=pcie.0,addr=0x1d." + std::to_string(i - 1) +
                         ",masterbus=ehci.0,firstport=" + std::to_string(2 * (i - 1)));
  }
  b.dev("-device", "ich9-usb-ehci2,id=ehci-2,multifunction=on,bus=pcie.0,addr=0x1a.0x7");
  for (int i = 4; i <= 6; ++i) {
    b.dev("-device", "ich9-usb-uhci" + std::to_string(i) + ",id=uhci-" + std::to_string(i) +
                         ",multifunction=on,bus=pcie.0,addr=0x1a." + std::to_string(i - 4) +
                         ",masterbus=ehci-2.0,firstport=" + std::to_string(2 * (i - 4)));
  }
  for (int i = 1; i <= 4; ++i) {
    std::string n = std::to_string(i);
    b.dev("-device", "pcie-root-port,id=ich9-pcie-port-" + n + ",x-speed=16,x-width=32,multifunction=on,bus=pcie.0,addr=0x1c." +
                         std::to_string(i - 1) + ",port=" + n + ",chassis=" + n);
  }
  b.dev("-device", "i82801b11-bridge,id=pcidmi,bus=pcie.0,addr=0x1e");
  for (int i = 0; i <= 3; ++i) {
    b.dev("-device", "pci-bridge,id=pci." + std::to_string(i) + ",chassis_nr=" + std::to_string(i + 1) +
                         ",bus=pcidmi,addr=0x" + std::to_string(i + 1));
  }
}

void add_smbios(Build& b) {
  auto smbios = b.conf.get("smbios1");
  if (!smbios) return;
  Props props(*smbios, "");
  if (!props.flag("base64", false)) {
    b.opt("-smbios", "type=1," + *smbios);
    return;
  }
  std::string out = "type=1";
  for (const auto& [key, value] : props.items()) {
    if (key == "base64") continue;
    std::string decoded = key == "uuid" ? value : base64_decode(value);
    if (!decoded.empty()) out += "," + key + "=" + qemu_escape(decoded);
  }
  b.opt("-smbios", out);
}

struct CpuFlag {
  std::string op;  // "+", "-" or "" (a plain property)
  std::string value;
};

void add_flag_list(std::map<std::string, CpuFlag>& flags, const std::string& list, bool vm_set) {
  for (const std::string& flag : split_any(list, ";")) {
    if (flag.size() < 2 || (flag[0] != '+' && flag[0] != '-')) throw Error("invalid CPU flag '" + flag + "'", 500);
    std::string name = flag.substr(1);
    if (vm_set && !is_vm_settable_cpu_flag(name)) throw Error("CPU flag '" + flag + "' cannot be set for a VM", 500);
    flags[name] = {flag.substr(0, 1), ""};
  }
}

std::string cpu_option(const Build& b, bool hide_kvm, bool gpu_passthrough) {
  std::string model = b.kvm ? "kvm64" : "qemu64";
  Props cpu(b.conf.get_or("cpu", ""), "cputype");
  if (auto type = cpu.get("cputype")) model = *type;
  if (model.rfind("custom-", 0) == 0) throw Error("custom CPU models are not supported ('" + model + "')", 500);
  std::string builtin_flags;
  if (auto it = builtin_cpu_models().find(model); it != builtin_cpu_models().end()) {
    builtin_flags = it->second;
    model = "qemu64";
  }
  if (model == "Icelake-Client") model = "Icelake-Server";  // never existed; QEMU 7.1 dropped it
  if (model == "Icelake-Client-noTSX") model = "Icelake-Server-noTSX";
  auto vendor = cpu_vendor(model);
  if (!vendor) throw Error("unknown CPU type '" + model + "'", 500);
  if (model == "host" && !b.kvm) model = "max";  // `host` needs KVM; max is everything TCG can do
  if (auto hidden = cpu.get("hidden")) hide_kvm = is_true(*hidden);

  // Merged in qemu-server's order: PVE's, Hyper-V, model's, the VM's, forced; later ones win.
  std::map<std::string, CpuFlag> flags;
  std::string ostype = b.conf.get_or("ostype", "other");
  if (model == "kvm64") flags["lahf_lm"] = {"+", ""};
  if (ostype == "solaris") flags["x2apic"] = {"-", ""};
  if (model == "kvm64" || model == "kvm32") flags["sep"] = {"+", ""};
  if (model.rfind("Opteron", 0) == 0) flags["rdtscp"] = {"-", ""};
  if (b.kvm) {
    flags["kvm_pv_unhalt"] = {"+", ""};
    flags["kvm_pv_eoi"] = {"+", ""};
  }
  int win = b.winversion;
  bool ovmf = b.conf.get_or("bios", "seabios") == "ovmf";
  if (b.kvm && win >= 6 && !(ovmf && win < 8)) {
    auto vendor_id = cpu.get("hv-vendor-id");
    if (vendor_id || gpu_passthrough) flags["hv_vendor_id"] = {"", vendor_id ? *vendor_id : "proxmox"};
    flags["hv_spinlocks"] = {"", "0x1fff"};
    for (const char* f : {"hv_vapic", "hv_time", "hv_reset", "hv_vpindex", "hv_runtime"}) flags[f] = {"", ""};
    if (win >= 7) {
      for (const char* f : {"hv_relaxed", "hv_synic", "hv_stimer", "hv_ipi"}) flags[f] = {"", ""};
    }
  }
  if (!builtin_flags.empty()) add_flag_list(flags, builtin_flags, false);
  if (auto list = cpu.get("flags")) add_flag_list(flags, *list, true);
  if (model != "host" && b.kvm) flags["enforce"] = {"", ""};
  if (hide_kvm) flags["kvm"] = {"", "off"};
  if (!vendor->empty()) flags["vendor"] = {"", *vendor};

  std::string out = model;
  for (const auto& [name, flag] : flags) {
    out += "," + flag.op + name;
    if (!flag.value.empty()) out += "=" + flag.value;
  }
  if (auto bits = cpu.get("phys-bits")) out += *bits == "host" ? ",host-phys-bits=true" : ",phys-bits=" + *bits;
  return out;
}

long long memory_mib(const ConfigSection& conf) {
  Props memory(conf.get_or("memory", "512"), "current");
  return config_int("memory", memory.get_or("current", "512"));
}

std::string memory_object(const ConfigSection& conf, const std::string& id, long long mib) {
  auto hugepages = conf.get("hugepages");
  if (!hugepages) return "memory-backend-ram,id=" + id + ",size=" + std::to_string(mib) + "M";
  long long kb = 2048;
  if (*hugepages == "1024" || (*hugepages == "any" && mib % 1024 == 0)) kb = 1048576;
  if (*hugepages != "2" && *hugepages != "1024" && *hugepages != "any") {
    throw Error("invalid hugepages '" + *hugepages + "'", 500);
  }
  if (*hugepages == "1024" && mib % 1024 != 0) {
    throw Error("memory size (" + std::to_string(mib) + " MiB) must be a multiple of 1 GiB hugepages", 500);
  }
  return "memory-backend-file,id=" + id + ",size=" + std::to_string(mib) + "M,mem-path=/run/hugepages/kvm/" +
         std::to_string(kb) + "kB,share=on,prealloc=yes";
}

void add_memory(Build& b, int sockets, int cores) {
  long long memory = memory_mib(b.conf);
  b.opt("-m", std::to_string(memory));
  bool numa = is_true(b.conf.get_or("numa", "0"));
  if (b.conf.has("hugepages") && !numa) throw Error("numa needs to be enabled to use hugepages", 500);
  if (!numa) return;

  long long total = 0;
  for (int i = 0; i < kMaxNuma; ++i) {
    auto value = b.conf.get("numa" + std::to_string(i));
    if (!value) continue;
    Props node(*value, "cpus");
    auto mib = node.get("memory");
    if (!mib) throw Error("missing NUMA node" + std::to_string(i) + " memory value", 500);
    auto cpus = node.get("cpus");
    if (!cpus) throw Error("missing NUMA node" + std::to_string(i) + " cpus", 500);
    long long size = config_int("numa" + std::to_string(i), *mib);
    total += size;
    std::string id = "ram-node" + std::to_string(i);
    std::string object = memory_object(b.conf, id, size);
    if (auto hostnodes = node.get("hostnodes")) {
      auto policy = node.get("policy");
      if (!policy) throw Error("you need to define a policy for hostnode " + *hostnodes, 500);
      std::string nodes = *hostnodes;
      std::replace(nodes.begin(), nodes.end(), ';', ',');
      object += ",host-nodes=" + nodes + ",policy=" + *policy;
    }
    std::string cpu_list;
    for (const std::string& range : split_any(*cpus, ";")) cpu_list += ",cpus=" + range;
    b.opt("-object", object);
    b.opt("-numa", "node,nodeid=" + std::to_string(i) + cpu_list + ",memdev=" + id);
  }
  if (total && total != memory) throw Error("total memory for NUMA nodes must be equal to vm static memory", 500);
  if (total) return;
  // No explicit topology: one node per socket, memory and cores split evenly.
  if (memory % sockets != 0) {
    throw Error("memory (" + std::to_string(memory) + " MiB) cannot be split evenly over " + std::to_string(sockets) +
                    " NUMA nodes",
                500);
  }
  for (int i = 0; i < sockets; ++i) {
    std::string id = "ram-node" + std::to_string(i);
    b.opt("-object", memory_object(b.conf, id, memory / sockets));
    std::string cpus = std::to_string(cores * i);
    if (cores > 1) cpus += "-" + std::to_string(cores * i + cores - 1);
    b.opt("-numa", "node,nodeid=" + std::to_string(i) + ",cpus=" + cpus + ",memdev=" + id);
  }
}

void add_usb_devices(Build& b) {
  bool any = false;
  for (int i = 0; i < kMaxUsbDevices; ++i) any = any || b.conf.has("usb" + std::to_string(i));
  if (!any) return;
  b.dev("-device", "qemu-xhci,p2=15,p3=15,id=xhci" + b.pci("xhci"));
  for (int i = 0; i < kMaxUsbDevices; ++i) {
    std::string key = "usb" + std::to_string(i);
    auto value = b.conf.get(key);
    if (!value) continue;
    Props usb(*value, "host");
    std::string host = usb.get_or("host", "");
    std::string dev = "usb-host,bus=xhci.0,port=" + std::to_string(i + 1);
    std::smatch m;
    static const std::regex ids("^(?:0x)?([0-9A-Fa-f]{4}):(?:0x)?([0-9A-Fa-f]{4})$");
    static const std::regex path("^(\\d+)-(\\d+(?:\\.\\d+)*)$");
    if (host == "spice") throw Error(key + ": SPICE USB redirection is not supported", 500);
    if (std::regex_match(host, m, ids)) {
      dev += ",vendorid=0x" + to_lower(m[1].str()) + ",productid=0x" + to_lower(m[2].str());
    } else if (std::regex_match(host, m, path)) {
      dev += ",hostbus=" + m[1].str() + ",hostport=" + m[2].str();
    } else {
      throw Error(key + ": no usb id or path given", 500);
    }
    dev += ",id=" + key;
    if (auto it = b.bootorder.find(key); it != b.bootorder.end()) dev += ",bootindex=" + std::to_string(it->second);
    b.dev("-device", dev);
  }
}

// vfio-pci devices of hostpciN. Returns whether a GPU is passed as primary (x-vga).
bool add_hostpci(Build& b, std::string& vga_type, bool vga_configured) {
  bool gpu = false;
  for (int i = 0; i < kMaxHostPci; ++i) {
    std::string key = "hostpci" + std::to_string(i);
    auto value = b.conf.get(key);
    if (!value) continue;
    Props pci(*value, "host");
    if (pci.get("mapping")) throw Error(key + ": resource mappings are not supported", 500);
    if (pci.get("mdev")) throw Error(key + ": mediated devices are not supported", 500);
    if (pci.flag("legacy-igd", false)) throw Error(key + ": legacy IGD passthrough is not supported", 500);
    const auto functions = hostpci_functions(key, *value);

    std::string addr;
    if (pci.flag("pcie", false)) {
      if (!b.q35) throw Error("q35 machine model is not enabled", 500);
      if (b.winversion == 7) {
        static const int bus0_slot[] = {16, 17, 18, 19, 9, 10, 11, 12, 13, 14, 15, 21, 22, 23, 24, 25};
        char slot[16];
        std::snprintf(slot, sizeof slot, "0x%x", bus0_slot[i]);
        addr = std::string(",bus=pcie.0,addr=") + slot;
      } else {
        // Ports 1-4 come with the q35 base devices; the others are added when used.
        if (i > 3) {
          static const char* port_addr[] = {"0x10", "0x10.0x1", "0x10.0x2", "0x10.0x3", "0x10.0x4", "0x10.0x5",
                                            "0x10.0x6", "0x10.0x7", "0x11", "0x11.0x1", "0x11.0x2", "0x11.0x3"};
          std::string n = std::to_string(i + 1);
          b.dev("-device", "pcie-root-port,id=ich9-pcie-port-" + n + ",addr=" + port_addr[i - 4] +
                               ",x-speed=16,x-width=32,multifunction=on,bus=pcie.0,port=" + n + ",chassis=" + n);
        }
        addr = ",bus=ich9-pcie-port-" + std::to_string(i + 1) + ",addr=0x0";
      }
    } else {
      addr = b.pci(key);
    }
    std::string xvga;
    if (pci.flag("x-vga", false)) {
      if (b.conf.get_or("bios", "seabios") != "ovmf") xvga = ",x-vga=on";
      if (!vga_configured) vga_type = "none";
      gpu = true;
    }
    bool multifunction = functions.size() > 1;
    for (std::size_t j = 0; j < functions.size(); ++j) {
      std::string fn = multifunction ? "." + std::to_string(j) : "";
      std::string dev = "vfio-pci,host=" + functions[j] + ",id=" + key + fn + addr + fn;
      if (j == 0) {
        if (!pci.flag("rombar", true)) dev += ",rombar=0";
        dev += xvga;
        if (multifunction) dev += ",multifunction=on";
        if (auto rom = pci.get("romfile")) dev += ",romfile=/usr/share/kvm/" + *rom;
        if (auto it = b.bootorder.find(key); it != b.bootorder.end()) dev += ",bootindex=" + std::to_string(it->second);
        for (const char* option : {"vendor-id", "device-id", "sub-vendor-id", "sub-device-id"}) {
          if (auto v = pci.get(option)) dev += std::string(",x-pci-") + option + "=" + *v;
        }
      }
      b.dev("-device", dev);
    }
  }
  return gpu;
}

void add_serial_and_parallel(Build& b) {
  for (int i = 0; i < kMaxSerialPorts; ++i) {
    std::string id = "serial" + std::to_string(i);
    auto value = b.conf.get(id);
    if (!value) continue;
    if (*value == "socket") {
      b.dev("-chardev", "socket,id=" + id + ",path=" + qemu_escape(b.paths.serial(i).string()) + ",server=on,wait=off");
    } else if (value->rfind("/dev/", 0) == 0) {
      b.dev("-chardev", "serial,id=" + id + ",path=" + qemu_escape(*value));
    } else {
      throw Error(id + ": no such serial device '" + *value + "'", 500);
    }
    b.dev("-device", "isa-serial,chardev=" + id);
  }
  for (int i = 0; i < kMaxParallelPorts; ++i) {
    std::string id = "parallel" + std::to_string(i);
    auto value = b.conf.get(id);
    if (!value) continue;
    if (value->rfind("/dev/", 0) != 0) throw Error(id + ": no such parallel device '" + *value + "'", 500);
    std::string type = value->rfind("/dev/usb/lp", 0) == 0 ? "serial" : "parallel";
    b.dev("-chardev", type + ",id=" + id + ",path=" + qemu_escape(*value));
    b.dev("-device", "isa-parallel,chardev=" + id);
  }
}

// Sound: pvx has no SPICE, so the card always plays into QEMU's "none" backend.
void add_audio(Build& b) {
  auto value = b.conf.get("audio0");
  if (!value) return;
  Props audio(*value, "device");
  std::string device = audio.get_or("device", "");
  std::string backend = "none-backend0";
  std::string addr = b.pci("audio0");
  if (device == "ich9-intel-hda" || device == "intel-hda") {
    b.dev("-device", device + ",id=audiodev0" + addr);
    b.dev("-device", "hda-micro,id=audiodev0-codec0,bus=audiodev0.0,cad=0,audiodev=" + backend);
    b.dev("-device", "hda-duplex,id=audiodev0-codec1,bus=audiodev0.0,cad=1,audiodev=" + backend);
  } else if (device == "AC97") {
    b.dev("-device", "AC97,id=audiodev0" + addr + ",audiodev=" + backend);
  } else {
    throw Error("audio0: unknown audio device '" + device + "'", 500);
  }
  b.dev("-audiodev", "none,id=" + backend);
}

struct Vga {
  std::string type;
  std::optional<long long> memory_mib;
  int qxl_count = 0;
};

const std::map<std::string, std::string>& vga_devices() {
  static const std::map<std::string, std::string> devices = {
      {"cirrus", "cirrus-vga"}, {"std", "VGA"}, {"vmware", "vmware-svga"}, {"virtio", "virtio-vga"},
      {"virtio-gl", "virtio-vga-gl"}};
  return devices;
}

std::string vga_device(Build& b, const Vga& vga, int id) {
  std::string type;
  std::string max_outputs;
  if (vga.qxl_count) {
    type = id ? "qxl" : "qxl-vga";
    std::string ostype = b.conf.get_or("ostype", "other");
    bool linux_like = ostype == "other" || (ostype.size() == 3 && ostype[0] == 'l');
    if (linux_like && b.machine_at_least(4, 1)) max_outputs = ",max_outputs=4";
  } else {
    auto it = vga_devices().find(vga.type);
    if (it == vga_devices().end()) throw Error("no devicetype for " + vga.type, 500);
    type = it->second;
  }
  std::string memory;
  if (vga.memory_mib) {
    long long mb = *vga.memory_mib;
    if (vga.type.rfind("virtio", 0) == 0) {
      memory = ",max_hostmem=" + std::to_string(mb * 1024 * 1024);
    } else if (vga.qxl_count) {
      memory = ",vgamem_mb=" + std::to_string(mb) + ",ram_size_mb=" + std::to_string(mb * 4) +
               ",vram_size_mb=" + std::to_string(mb * 2);
    } else {
      memory = ",vgamem_mb=" + std::to_string(mb);
    }
  } else if (vga.qxl_count && id) {
    memory = ",ram_size=67108864,vram_size=33554432";
  }
  std::string edid;
  if (type == "VGA" && b.winversion && b.conf.get_or("bios", "seabios") != "ovmf") edid = ",edid=off";
  std::string vgaid = "vga" + (id ? std::to_string(id) : std::string());
  std::string addr = (b.q35 && !id) ? ",bus=pcie.0,addr=0x1" : b.pci(vgaid);
  return type + ",id=" + vgaid + memory + max_outputs + addr + edid;
}

void add_agent(Build& b) {
  auto value = b.conf.get("agent");
  if (!value) return;
  Props agent(*value, "enabled");
  if (!agent.flag("enabled", false)) return;
  b.dev("-chardev", "socket,path=" + qemu_escape(b.paths.qga().string()) + ",server=on,wait=off,id=qga0");
  std::string type = agent.get_or("type", "virtio");
  if (type == "virtio") {
    b.dev("-device", "virtio-serial,id=qga0" + b.pci("qga0"));
    b.dev("-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0");
  } else if (type == "isa") {
    b.dev("-device", "isa-serial,chardev=qga0");
  } else {
    throw Error("agent: unknown type '" + type + "'", 500);
  }
}

void add_rng(Build& b) {
  auto value = b.conf.get("rng0");
  if (!value) return;
  Props rng(*value, "source");
  std::string source = rng.get_or("source", "");
  if (source != "/dev/urandom" && source != "/dev/random" && source != "/dev/hwrng") {
    throw Error("rng0: invalid source '" + source + "'", 500);
  }
  long long max_bytes = config_int("rng0", rng.get_or("max_bytes", "1024"));
  std::string limiter;
  if (max_bytes) limiter = ",max-bytes=" + std::to_string(max_bytes) + ",period=" + rng.get_or("period", "1000");
  b.dev("-object", "rng-random,filename=" + source + ",id=rng0");
  b.dev("-device", "virtio-rng-pci,rng=rng0" + limiter + b.pci("rng0"));
}

void add_watchdog(Build& b) {
  auto value = b.conf.get("watchdog");
  if (!value) return;
  Props wd(*value, "model");
  std::string model = wd.get_or("model", "i6300esb");
  if (model == "i6300esb") {
    b.dev("-device", model + b.pci("watchdog"));
  } else if (model == "ib700") {
    b.dev("-device", model);  // an ISA card: no PCI slot
  } else {
    throw Error("watchdog: unknown model '" + model + "'", 500);
  }
  if (auto action = wd.get("action")) b.dev("-watchdog-action", *action);
}

void add_ivshmem(Build& b) {
  auto value = b.conf.get("ivshmem");
  if (!value) return;
  Props shm(*value, "size");
  auto size = shm.get("size");
  if (!size) throw Error("ivshmem: size missing", 500);
  std::string addr = b.q35 ? ",bus=pcie.0,addr=0x14" : b.pci("ivshmem");
  std::string name = shm.get_or("name", std::to_string(b.in.vmid));
  b.dev("-device", "ivshmem-plain,memdev=ivshmem" + addr);
  b.dev("-object", "memory-backend-file,id=ivshmem,share=on,mem-path=/dev/shm/pve-shm-" + qemu_escape(name) +
                       ",size=" + *size + "M");
}

// qemu-server's fixup for unversioned q35 Linux VMs created before QEMU 6.1, whose PCI slot view
// (and so systemd's interface names) changed when ACPI hotplug with bridges became the default.
bool needs_q35_hotplug_fixup(const Build& b) {
  Props machine(b.conf.get_or("machine", ""), "type");
  std::string type = machine.get_or("type", "");
  if (!(type.empty() || type == "pc" || type == "q35")) return false;
  if (!b.q35 || b.conf.get_or("ostype", "") != "l26") return false;
  Props meta(b.conf.get_or("meta", ""), "");
  auto created = meta.get("creation-qemu");
  if (!created) return true;
  std::smatch m;
  static const std::regex re("^(\\d+)\\.(\\d+)");
  if (!std::regex_search(*created, m, re)) return true;
  return version_below({std::stoi(m[1]), std::stoi(m[2])}, {6, 1});
}

}  // namespace

std::string machine_type(const ConfigSection& conf, const HostFacts& host) {
  // Only the type counts here; viommu, aw-bits and enable-s3/s4 of `machine:` are not applied.
  Props machine(conf.get_or("machine", ""), "type");
  std::string type = machine.get_or("type", "");
  // "+pveN" (qemu-server's layout revisions) and ".pxe" (its old ROM files) have no meaning to
  // Debian's QEMU: the base machine is the same hardware.
  static const std::regex suffixes("(\\+pve\\d+)?(\\.pxe)?$");
  type = std::regex_replace(type, suffixes, "");
  auto qemu = major_minor(host.qemu_version);
  if (type.empty() || type == "pc" || type == "q35") {
    std::string version = std::to_string(qemu.first) + "." + std::to_string(qemu.second);
    // Windows keeps 5.1: 5.2 changed the ACPI layout in ways Windows reacts badly to (qemu-server).
    if (windows_version(conf.get_or("ostype", ""))) version = "5.1";
    return (type == "q35" ? "pc-q35-" : "pc-i440fx-") + version;
  }
  std::smatch m;
  static const std::regex versioned("^pc-(i440fx|q35)-(\\d+)\\.(\\d+)$");
  if (!std::regex_match(type, m, versioned)) throw Error("unknown machine type '" + type + "'", 500);
  if (version_below(qemu, {std::stoi(m[2]), std::stoi(m[3])})) {
    throw Error("Installed QEMU version '" + host.qemu_version + "' is too old to run machine type '" + type + "'",
                500);
  }
  return type;
}

std::vector<std::string> cfg2cmd(const Cfg2CmdInput& in) {
  if (!in.conf) throw Error("cfg2cmd: no config", 500);
  const ConfigSection& conf = *in.conf;
  Build b(in, conf);
  b.kvm = in.host.kvm && is_true(conf.get_or("kvm", "1"));
  b.machine = machine_type(conf, in.host);
  b.q35 = b.machine.find("q35") != std::string::npos;
  std::tie(b.machine_major, b.machine_minor) = major_minor(b.machine.substr(b.machine.rfind('-') + 1));
  std::string ostype = conf.get_or("ostype", "other");
  b.winversion = windows_version(ostype);

  std::vector<Drive> drives = config_drives(conf);
  b.bootorder = device_bootorder(conf, drives);
  std::optional<Drive> efidisk;
  for (const Drive& d : drives) {
    if (d.interface == "efidisk") efidisk = d;
  }

  std::vector<std::string> machine_flags;
  std::vector<std::string> rtc_flags;
  std::vector<std::string> global_flags;

  if (auto affinity = conf.get("affinity")) {
    b.cmd.insert(b.cmd.end(), {"/usr/bin/taskset", "--cpu-list", "--all-tasks", *affinity});
  }
  b.cmd.push_back(in.host.qemu_binary);
  b.opt("-name", qemu_escape(conf.get_or("name", "vm" + std::to_string(in.vmid))) + ",debug-threads=on");
  b.cmd.push_back("-no-shutdown");
  b.opt("-chardev", "socket,id=qmp,path=" + qemu_escape(b.paths.qmp().string()) + ",server=on,wait=off");
  b.opt("-mon", "chardev=qmp,mode=control");
  add_smbios(b);
  if (conf.get_or("bios", "seabios") == "ovmf") add_ovmf(b, efidisk);
  if (b.q35) add_q35_base(b);
  std::size_t base_devices = b.devices.size();
  if (needs_q35_hotplug_fixup(b)) b.opt("-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off");
  if (auto genid = conf.get("vmgenid"); genid && *genid != "0" && *genid != "1") {
    b.dev("-device", "vmgenid,guid=" + *genid);
  }

  // USB controller of i440fx (q35 has its own in the base devices).
  if (!b.q35) b.dev("-device", "piix3-usb-uhci,id=uhci" + b.pci("piix3") + ".0x2");

  Props vga_props(conf.get_or("vga", ""), "type");
  Vga vga;
  vga.type = vga_props.get_or("type", "");
  if (auto mem = vga_props.get("memory")) vga.memory_mib = config_int("vga memory", *mem);
  if (vga.type == "qxl") vga.qxl_count = 1;
  if (vga.type.size() == 4 && vga.type.rfind("qxl", 0) == 0 && vga.type[3] >= '2' && vga.type[3] <= '4') {
    vga.qxl_count = vga.type[3] - '0';
  }
  if (vga.qxl_count) vga.type = "qxl";
  if (vga.type.empty()) vga.type = (b.winversion && b.winversion < 6) ? "cirrus" : "std";
  bool serial_display = std::regex_match(vga.type, std::regex("serial[0-3]"));
  if (!serial_display && vga.type != "none" && vga.type != "qxl" && !vga_devices().count(vga.type)) {
    throw Error("unknown vga type '" + vga.type + "'", 500);
  }

  // The tablet gives VNC absolute pointer positions; pvx keeps it with qxl (there is no SPICE).
  bool tablet = conf.has("tablet") ? is_true(*conf.get("tablet")) : !serial_display;
  if (tablet) b.dev("-device", std::string("usb-tablet,id=tablet,bus=") + (b.q35 ? "ehci" : "uhci") + ".0,port=1");

  bool gpu_passthrough = add_hostpci(b, vga.type, conf.has("vga"));
  if (vga.type == "none") serial_display = false;
  add_usb_devices(b);
  add_serial_and_parallel(b);
  add_audio(b);

  if (conf.has("tpmstate0")) {
    b.dev("-chardev", "socket,id=tpmchar,path=" + qemu_escape(b.paths.swtpm().string()));
    b.dev("-tpmdev", "emulator,id=tpmdev,chardev=tpmchar");
    b.dev("-device", "tpm-tis,tpmdev=tpmdev");
  }

  int sockets = static_cast<int>(config_int("sockets", conf.get_or("sockets", conf.get_or("smp", "1"))));
  int cores = static_cast<int>(config_int("cores", conf.get_or("cores", "1")));
  if (sockets < 1 || cores < 1) throw Error("sockets and cores must be at least 1", 500);
  int maxcpus = sockets * cores;
  int vcpus = conf.has("vcpus") ? static_cast<int>(config_int("vcpus", *conf.get("vcpus"))) : maxcpus;
  if (vcpus == 0) vcpus = maxcpus;
  if (in.host.host_cpus < maxcpus) {
    throw Error("MAX " + std::to_string(in.host.host_cpus) + " vcpus allowed per VM on this node", 500);
  }
  if (vcpus > maxcpus) throw Error("vcpus (" + std::to_string(vcpus) + ") is larger than sockets * cores", 500);
  b.opt("-smp", std::to_string(vcpus) + ",sockets=" + std::to_string(sockets) + ",cores=" + std::to_string(cores) +
                    ",maxcpus=" + std::to_string(maxcpus));
  b.cmd.push_back("-nodefaults");
  std::string boot = "menu=on,strict=on,reboot-timeout=1000";
  if (!in.host.boot_splash.empty()) boot += ",splash=" + qemu_escape(in.host.boot_splash);
  b.opt("-boot", boot);
  if (conf.has("acpi") && !is_true(*conf.get("acpi"))) machine_flags.push_back("acpi=off");
  if (conf.has("reboot") && !is_true(*conf.get("reboot"))) b.cmd.push_back("-no-reboot");

  if (!serial_display && vga.type != "none") {
    b.dev("-device", vga_device(b, vga, 0));
    if (vga.type == "virtio-gl") b.opt("-display", "egl-headless,gl=core");
    b.opt("-vnc", "unix:" + qemu_escape(b.paths.vnc().string()));
  } else {
    if (vga.type == "none") b.opt("-vga", "none");
    b.cmd.push_back("-nographic");
  }

  // Time: Windows wants local time and, with ACPI, the drift fix (qemu-server's defaults).
  bool acpi = is_true(conf.get_or("acpi", "1"));
  bool tdf = is_true(conf.get_or("tdf", "0"));
  bool localtime = is_true(conf.get_or("localtime", "0"));
  if (b.winversion >= 5) {
    if (!conf.has("localtime")) localtime = true;
    if (acpi && !conf.has("tdf")) tdf = true;
  }
  if (b.winversion >= 6) {
    if (b.kvm) global_flags.push_back("kvm-pit.lost_tick_policy=discard");  // kvm-pit exists with KVM only
    machine_flags.push_back("hpet=off");
  }
  if (tdf) rtc_flags.push_back("driftfix=slew");
  if (auto start = conf.get("startdate"); start && *start != "now") {
    rtc_flags.push_back("base=" + *start);
  } else if (localtime) {
    rtc_flags.push_back("base=localtime");
  }

  b.opt("-cpu", cpu_option(b, gpu_passthrough, gpu_passthrough));
  add_memory(b, sockets, cores);
  if (in.paused || is_true(conf.get_or("freeze", "0"))) b.cmd.push_back("-S");
  if (auto keyboard = conf.get("keyboard")) b.opt("-k", *keyboard);

  add_agent(b);
  add_rng(b);
  if (vga.qxl_count > 1) {
    if (b.winversion) {
      for (int i = 1; i < vga.qxl_count; ++i) b.dev("-device", vga_device(b, vga, i));
    } else {
      // Linux drives all heads from one device with more memory.
      long long ram = 134217728, vram = 67108864;
      if (vga.memory_mib) {
        ram = vga.qxl_count * 4 * *vga.memory_mib * 1024 * 1024;
        vram = vga.qxl_count * 2 * *vga.memory_mib * 1024 * 1024;
      }
      b.opt("-global", "qxl-vga.ram_size=" + std::to_string(ram));
      b.opt("-global", "qxl-vga.vram_size=" + std::to_string(vram));
    }
  }
  if (!conf.has("balloon") || config_int("balloon", *conf.get("balloon")) != 0) {
    std::string balloon = "virtio-balloon-pci,id=balloon0" + b.pci("balloon0");
    if (b.machine_at_least(6, 2)) balloon += ",free-page-reporting=on";
    b.dev("-device", balloon);
  }
  add_watchdog(b);
  add_disks(b, drives);
  add_nets(b);
  add_ivshmem(b);

  // PCI bridges the devices sit behind: i440fx always has pci.1 and pci.2 (and pci.3 for
  // virtio-scsi-single); q35's base devices have pci.0-3, pci.4 is added when used.
  if (!b.q35) {
    b.bridges.insert(1);
    b.bridges.insert(2);
    if (conf.get_or("scsihw", "") == "virtio-scsi-single") b.bridges.insert(3);
  }
  if (b.bridges.count(4)) b.bridges.insert(1);
  std::vector<std::string> bridge_devices;
  std::set<int> bridges = b.bridges;
  for (int k : bridges) {
    if (k == 0 || (b.q35 && k < 4)) continue;
    std::string id = "pci." + std::to_string(k);
    bridge_devices.insert(bridge_devices.end(),
                          {"-device", "pci-bridge,id=" + id + ",chassis_nr=" + std::to_string(k) + b.pci(id)});
  }
  // Bridges go before the devices that use them; on q35 after the base devices that define pci.1.
  b.devices.insert(b.devices.begin() + static_cast<std::ptrdiff_t>(base_devices), bridge_devices.begin(),
                   bridge_devices.end());

  if (conf.get_or("bios", "seabios") != "ovmf" && (serial_display || vga.type == "none")) {
    machine_flags.push_back("smm=off");  // SeaBIOS hangs with SMM and no VGA (qemu-server #2437)
  }

  b.cmd.insert(b.cmd.end(), b.devices.begin(), b.devices.end());
  if (!rtc_flags.empty()) {
    std::string rtc;
    for (const auto& f : rtc_flags) rtc += (rtc.empty() ? "" : ",") + f;
    b.opt("-rtc", rtc);
  }
  std::string machine = "type=" + b.machine;
  for (const auto& f : machine_flags) machine += "," + f;
  b.opt("-machine", machine);
  b.opt("-accel", b.kvm ? "kvm" : "tcg");
  for (const auto& g : global_flags) b.opt("-global", g);
  // The state is streamed in over QMP (migrate-incoming on an fd) once QEMU is up.
  if (!in.vmstate_path.empty()) b.opt("-incoming", "defer");
  if (is_true(conf.get_or("template", "0"))) b.cmd.push_back("-snapshot");  // base volumes may be read-only
  if (auto args = conf.get("args")) {
    auto words = split_shell_words(*args);
    b.cmd.insert(b.cmd.end(), words.begin(), words.end());
  }
  return b.cmd;
}

std::vector<std::string> hostpci_functions(const std::string& key, const std::string& value) {
  Props pci(value, "host");
  std::vector<std::string> functions;
  static const std::regex id("^(?:([0-9a-fA-F]{4,}):)?([0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7])$");
  for (const std::string& host : split_any(pci.get_or("host", ""), ";")) {
    std::smatch m;
    if (!std::regex_match(host, m, id)) {
      throw Error(key + ": give each host PCI function as [domain:]bus:device.function, not '" + host + "'", 500);
    }
    functions.push_back((m[1].matched ? m[1].str() : "0000") + ":" + m[2].str());
  }
  if (functions.empty()) throw Error(key + ": no host PCI device given", 500);
  return functions;
}

}  // namespace pvx::guest::qemu
