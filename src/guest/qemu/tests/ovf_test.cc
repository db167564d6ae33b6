#include <gtest/gtest.h>

#include "base/error.h"
#include "guest/qemu/ovf.h"

namespace pvx::guest::qemu {
namespace {

// The shape VMware's exporter writes (prefixed namespaces, MiB in "byte * 2^20").
const char* kVmwareOvf = R"(<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-1" xmlns="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>
    <File ovf:href="web_01-disk1.vmdk" ovf:id="file1" ovf:size="1000"/>
    <File ovf:href="disks/data.vmdk" ovf:id="file2" ovf:size="1000"/>
  </References>
  <DiskSection>
    <Disk ovf:capacity="16" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1"/>
    <Disk ovf:capacity="4" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk2" ovf:fileRef="file2"/>
  </DiskSection>
  <VirtualSystem ovf:id="web_01">
    <Name>web_01 (prod)</Name>
    <OperatingSystemSection ovf:id="95" vmw:osType="debian10_64Guest"><Info>os</Info></OperatingSystemSection>
    <VirtualHardwareSection>
      <Item><rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits><rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>4</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource>
        <rasd:InstanceID>6</rasd:InstanceID><rasd:Parent>4</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>)";

TEST(Ovf, ReadsNameResourcesOsAndDisks) {
  auto vm = parse_ovf(kVmwareOvf, "/srv/import/web");
  EXPECT_EQ(vm.name, "web-01--prod");
  EXPECT_EQ(vm.cores, 4);
  EXPECT_EQ(vm.memory, 2048);
  EXPECT_EQ(vm.ostype, "l26");
  ASSERT_EQ(vm.disks.size(), 2u);
  EXPECT_EQ(vm.disks[0].disk_address, "scsi0");
  EXPECT_EQ(vm.disks[0].backing_file, "/srv/import/web/web_01-disk1.vmdk");
  // Slot 0 of the second SCSI controller: the next free scsi slot.
  EXPECT_EQ(vm.disks[1].disk_address, "scsi1");
  EXPECT_EQ(vm.disks[1].backing_file, "/srv/import/web/disks/data.vmdk");
}

TEST(Ovf, UnprefixedSataAndGibMemory) {
  const char* ovf = R"(<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/2">
    <References><File href="a.vmdk" id="f"/></References>
    <DiskSection><Disk diskId="d" fileRef="f"/></DiskSection>
    <VirtualSystem id="box"><VirtualHardwareSection>
      <Item><InstanceID>1</InstanceID><ResourceType>4</ResourceType><AllocationUnits>byte * 2^30</AllocationUnits>
        <VirtualQuantity>2</VirtualQuantity></Item>
      <Item><InstanceID>2</InstanceID><ResourceType>20</ResourceType></Item>
      <Item><InstanceID>3</InstanceID><ResourceType>17</ResourceType><Parent>2</Parent><AddressOnParent>1</AddressOnParent>
        <HostResource>ovf:/disk/d</HostResource></Item>
    </VirtualHardwareSection></VirtualSystem></Envelope>)";
  auto vm = parse_ovf(ovf, "/tmp/x");
  EXPECT_EQ(vm.name, "box");
  EXPECT_EQ(vm.memory, 2048);
  EXPECT_FALSE(vm.cores);
  EXPECT_FALSE(vm.ostype);
  ASSERT_EQ(vm.disks.size(), 1u);
  EXPECT_EQ(vm.disks[0].disk_address, "sata1");
}

TEST(Ovf, RefusesFilesOutsideItsDirectoryAndBrokenInput) {
  std::string escaping = kVmwareOvf;
  escaping.replace(escaping.find("web_01-disk1.vmdk"), 17, "../../etc/shadow");
  try {
    parse_ovf(escaping, "/srv/import/web");
    FAIL() << "accepted a file outside the directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("outside the OVF's directory"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_ovf("<Envelope><VirtualSystem>", "/tmp"), Error);
  EXPECT_THROW(parse_ovf("<html/>", "/tmp"), Error);
}

TEST(Ovf, OsTypes) {
  EXPECT_EQ(ostype_of_cim_id(122), "win11");
  EXPECT_EQ(ostype_of_cim_id(94), "l26");
  EXPECT_EQ(ostype_of_cim_id(1), "other");
}

}  // namespace
}  // namespace pvx::guest::qemu
