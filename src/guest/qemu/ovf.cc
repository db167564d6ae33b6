#include "guest/qemu/ovf.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include "base/error.h"

namespace pvx::guest::qemu {
namespace {

namespace pt = boost::property_tree;

// OVF files use the ovf:, rasd: and vssd: prefixes, or none with a default namespace: names
// are compared without their prefix.
std::string local_name(const std::string& tag) {
  auto colon = tag.find(':');
  return colon == std::string::npos ? tag : tag.substr(colon + 1);
}

const pt::ptree* child(const pt::ptree& node, const std::string& name) {
  for (const auto& [tag, sub] : node) {
    if (local_name(tag) == name) return &sub;
  }
  return nullptr;
}

std::vector<const pt::ptree*> children(const pt::ptree& node, const std::string& name) {
  std::vector<const pt::ptree*> out;
  for (const auto& [tag, sub] : node) {
    if (local_name(tag) == name) out.push_back(&sub);
  }
  return out;
}

std::string text_of(const pt::ptree& node, const std::string& name) {
  const auto* c = child(node, name);
  if (!c) return {};
  std::string v = c->data();
  auto b = v.find_first_not_of(" \t\r\n");
  auto e = v.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
}

std::string attribute(const pt::ptree& node, const std::string& name) {
  const auto* attrs = child(node, "<xmlattr>");
  if (!attrs) return {};
  for (const auto& [tag, sub] : *attrs) {
    if (local_name(tag) == name) return sub.data();
  }
  return {};
}

std::optional<std::int64_t> to_int(const std::string& s) {
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// "byte * 2^20" (the usual), "byte * 2^30", "MegaBytes", "GigaBytes": the factor to MiB.
double mib_factor(const std::string& units) {
  std::string u;
  for (char c : units) {
    if (!std::isspace(static_cast<unsigned char>(c))) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (u.empty() || u == "byte*2^20" || u == "megabytes" || u == "mb") return 1;
  if (u == "byte*2^30" || u == "gigabytes" || u == "gb") return 1024;
  if (u == "byte*2^10" || u == "kilobytes" || u == "kb") return 1.0 / 1024;
  if (u == "byte") return 1.0 / (1024 * 1024);
  throw Error("unsupported memory allocation units '" + units + "'", 400);
}

// A name PVE accepts: letters, digits, '-' and '.', not starting or ending with '-'.
std::string dns_name(const std::string& raw) {
  std::string out;
  for (char c : raw) {
    const auto u = static_cast<unsigned char>(c);
    out += std::isalnum(u) || c == '-' || c == '.' ? c : '-';
  }
  while (!out.empty() && (out.front() == '-' || out.front() == '.')) out.erase(out.begin());
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  return out;
}

// CIM ResourceType of the controllers a disk can hang on.
std::string bus_of_controller(const std::string& type) {
  if (type == "5") return "ide";
  if (type == "6") return "scsi";
  if (type == "20") return "sata";
  return {};
}

}  // namespace

std::string ostype_of_cim_id(int id) {
  static const std::map<int, std::string> kTypes = {
      {58, "w2k"},    {67, "wxp"},    {71, "wxp"},    {72, "wxp"},    {69, "w2k3"},   {70, "w2k3"},
      {73, "wvista"}, {74, "wvista"}, {76, "w2k8"},   {77, "w2k8"},   {102, "w2k8"},  {104, "win7"},
      {110, "win7"},  {112, "win8"},  {113, "win8"},  {114, "win8"},  {115, "win8"},  {117, "win8"},
      {118, "win8"},  {116, "win10"}, {119, "win10"}, {120, "win10"}, {121, "win10"}, {122, "win11"},
      {123, "win11"}, {36, "l26"},    {79, "l26"},    {80, "l26"},    {82, "l26"},    {83, "l26"},
      {84, "l26"},    {85, "l26"},    {86, "l26"},    {88, "l26"},    {89, "l26"},    {90, "l26"},
      {91, "l26"},    {92, "l26"},    {93, "l26"},    {94, "l26"},    {95, "l26"},    {97, "l24"},
      {96, "l24"},    {98, "l26"},    {99, "l26"},    {100, "l26"},   {105, "l26"},   {106, "l26"},
      {107, "l26"},   {108, "l26"},   {29, "solaris"}, {81, "solaris"},
  };
  auto it = kTypes.find(id);
  return it == kTypes.end() ? "other" : it->second;
}

OvfVm parse_ovf(const std::string& xml, const std::filesystem::path& ovf_dir) {
  pt::ptree doc;
  try {
    std::istringstream in(xml);
    pt::read_xml(in, doc);
  } catch (const pt::xml_parser_error& e) {
    throw Error(std::string("unable to parse the OVF descriptor: ") + e.what(), 400);
  }
  const auto* envelope = child(doc, "Envelope");
  if (!envelope) throw Error("not an OVF descriptor: no Envelope element", 400);
  const auto* system = child(*envelope, "VirtualSystem");
  if (!system) throw Error("OVF descriptor has no VirtualSystem", 400);
  const auto* hardware = child(*system, "VirtualHardwareSection");
  if (!hardware) throw Error("OVF descriptor has no VirtualHardwareSection", 400);

  OvfVm vm;
  std::string name = text_of(*system, "Name");
  if (name.empty()) name = attribute(*system, "id");
  vm.name = dns_name(name);

  if (const auto* os = child(*system, "OperatingSystemSection")) {
    if (auto id = to_int(attribute(*os, "id"))) vm.ostype = ostype_of_cim_id(static_cast<int>(*id));
  }

  // File references: id -> href; disks: diskId -> fileRef.
  std::map<std::string, std::string> hrefs, file_of_disk;
  if (const auto* refs = child(*envelope, "References")) {
    for (const auto* f : children(*refs, "File")) hrefs[attribute(*f, "id")] = attribute(*f, "href");
  }
  if (const auto* section = child(*envelope, "DiskSection")) {
    for (const auto* d : children(*section, "Disk")) file_of_disk[attribute(*d, "diskId")] = attribute(*d, "fileRef");
  }

  auto items = children(*hardware, "Item");
  std::map<std::string, const pt::ptree*> by_instance;
  for (const auto* item : items) by_instance[text_of(*item, "InstanceID")] = item;

  const auto canonical_dir = std::filesystem::weakly_canonical(ovf_dir);
  for (const auto* item : items) {
    const std::string type = text_of(*item, "ResourceType");
    if (type == "3") {
      vm.cores = to_int(text_of(*item, "VirtualQuantity"));
    } else if (type == "4") {
      if (auto q = to_int(text_of(*item, "VirtualQuantity"))) {
        vm.memory = static_cast<std::int64_t>(static_cast<double>(*q) * mib_factor(text_of(*item, "AllocationUnits")));
      }
    } else if (type == "17") {
      const std::string host = text_of(*item, "HostResource");  // "ovf:/disk/vmdisk1"
      const std::string disk_id = host.substr(host.rfind('/') + 1);
      auto file = file_of_disk.find(disk_id);
      if (file == file_of_disk.end()) throw Error("disk '" + host + "' is not in the DiskSection", 400);
      auto href = hrefs.find(file->second);
      if (href == hrefs.end() || href->second.empty()) {
        throw Error("disk '" + disk_id + "' names no file in References", 400);
      }
      auto path = std::filesystem::weakly_canonical(ovf_dir / href->second);
      auto rel = path.lexically_relative(canonical_dir);
      if (std::filesystem::path(href->second).is_absolute() || rel.empty() || *rel.begin() == "..") {
        throw Error("disk file '" + href->second + "' lies outside the OVF's directory", 400);
      }
      auto parent = by_instance.find(text_of(*item, "Parent"));
      const std::string bus =
          parent == by_instance.end() ? std::string() : bus_of_controller(text_of(*parent->second, "ResourceType"));
      if (bus.empty()) throw Error("disk '" + disk_id + "' hangs on no IDE, SCSI or SATA controller", 400);
      // Two controllers of one bus type both have a slot 0: the second disk takes the next free one.
      auto slot = to_int(text_of(*item, "AddressOnParent")).value_or(0);
      auto taken = [&](std::int64_t n) {
        return std::any_of(vm.disks.begin(), vm.disks.end(),
                           [&](const OvfDisk& d) { return d.disk_address == bus + std::to_string(n); });
      };
      while (taken(slot)) ++slot;
      vm.disks.push_back({bus + std::to_string(slot), path});
    }
  }
  return vm;
}

}  // namespace pvx::guest::qemu
