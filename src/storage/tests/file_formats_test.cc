#include "storage/file_formats.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "storage/qemu_img.h"

namespace pvx::storage {
namespace {

std::string testdata(const std::string& name) {
  std::ifstream in(std::string(PVX_STORAGE_TESTDATA) + "/" + name);
  std::stringstream ss;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("#")) ss << line << "\n";  // header comments name the tool version
  }
  return ss.str();
}

TEST(FileFormats, RecognisesImageNames) {
  EXPECT_EQ(image_format_of("vm-100-disk-0.qcow2"), "qcow2");
  EXPECT_EQ(image_format_of("subvol-100-disk-0.subvol"), "subvol");
  EXPECT_FALSE(image_format_of("vm-100-disk-0.iso"));
  EXPECT_FALSE(image_format_of(".qcow2"));
  EXPECT_EQ(strip_image_suffix("base-100-disk-1.raw"), "base-100-disk-1");
}

TEST(FileFormats, ClassifiesContentFilesAsPveNamesThem) {
  EXPECT_EQ(classify_file("iso", "debian-12.ISO")->format, "iso");
  EXPECT_FALSE(classify_file("iso", "notes.txt"));
  EXPECT_FALSE(classify_file("iso", ".hidden.iso"));
  EXPECT_EQ(classify_file("vztmpl", "debian-12-standard_12.7-1_amd64.tar.zst")->format, "tgz");
  EXPECT_FALSE(classify_file("vztmpl", "x.zip"));
  auto b = classify_file("backup", "vzdump-qemu-100-2024_03_05-10_20_30.vma.zst");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->vmid, 100);
  EXPECT_EQ(b->format, "vma.zst");
  EXPECT_EQ(b->subtype, "qemu");
  EXPECT_GT(b->ctime, 1700000000);
  EXPECT_FALSE(classify_file("backup", "vzdump-qemu-100-2024_03_05-10_20_30.log"));
  EXPECT_EQ(classify_file("backup", "vzdump-lxc-101-2024_03_05-10_20_30.tar.gz")->subtype, "lxc");
  EXPECT_EQ(classify_file("import", "appliance.ova")->format, "ova");
  EXPECT_EQ(classify_file("snippets", "user-data.yaml")->format, "snippet");
  EXPECT_EQ(backup_log_name("/d/vzdump-qemu-100-2024_03_05-10_20_30.vma.zst"), "/d/vzdump-qemu-100-2024_03_05-10_20_30.log");
}

TEST(QemuImg, ParsesRecordedInfoOutput) {
  auto snap = qemu_img::parse_info_json(testdata("qemu-img/info-snapshot.json"));
  EXPECT_EQ(snap.virtual_size, 1073741824);
  EXPECT_EQ(snap.format, "qcow2");
  ASSERT_EQ(snap.snapshots.size(), 1u);
  EXPECT_EQ(snap.snapshots[0], "snap1");
  auto overlay = qemu_img::parse_info_json(testdata("qemu-img/info-backing.json"));
  EXPECT_EQ(overlay.backing_file, "b.qcow2");
  EXPECT_TRUE(overlay.snapshots.empty());
  EXPECT_THROW(qemu_img::parse_info_json("{}"), std::exception);
  EXPECT_THROW(qemu_img::parse_info_json("not json"), std::exception);
}

}  // namespace
}  // namespace pvx::storage
