#pragma once
// Reading an OVF descriptor (the .ovf of an appliance exported by VMware, VirtualBox and others)
// into what `qm importovf` creates: name, memory, cores, OS type and the disks with the bus slot
// each sat on. A pure function of the descriptor's text; the files it names are not opened.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pvx::guest::qemu {

struct OvfDisk {
  std::string disk_address;              // "scsi0", "sata1", "ide0"
  std::filesystem::path backing_file;    // absolute: the href resolved against the .ovf's directory
};

struct OvfVm {
  std::string name;                      // a valid DNS name, as a PVE `name`
  std::optional<std::int64_t> memory;    // MiB
  std::optional<std::int64_t> cores;
  std::optional<std::string> ostype;     // PVE's ostype, from the CIM operating system id
  std::vector<OvfDisk> disks;
};

// Error 400 naming what is wrong when the text is not an OVF envelope, a disk's file or
// controller cannot be found, or a file reference leaves the descriptor's directory.
OvfVm parse_ovf(const std::string& xml, const std::filesystem::path& ovf_dir);

// PVE's ostype for a CIM_OperatingSystem id (DMTF DSP1043): Windows versions, Linux, Solaris;
// "other" for the rest.
std::string ostype_of_cim_id(int id);

}  // namespace pvx::guest::qemu
