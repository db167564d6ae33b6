#include "storage/plugins/lvm_commands.h"

#include <algorithm>

#include "base/error.h"
#include "base/process.h"
#include "base/strings.h"
#include "storage/plugins/block_util.h"

namespace pvx::storage::lvm {
namespace {

// Options every report command shares: machine-readable, exact bytes.
std::vector<std::string> report_argv(const std::string& tool) {
  return {tool, "--separator", ":", "--noheadings", "--units", "b", "--unbuffered", "--nosuffix"};
}

std::int64_t int_field(const std::string& s) { return block::to_int(s).value_or(0); }

double percent_field(const std::string& s) {
  if (s.empty()) return 0;
  try {
    return std::stod(s);
  } catch (...) {
    return 0;
  }
}

}  // namespace

bool LvInfo::has_tag(std::string_view tag) const { return std::find(tags.begin(), tags.end(), tag) != tags.end(); }

std::string size_arg_kib(std::int64_t size_kib) { return std::to_string(size_kib) + "k"; }

std::vector<std::string> vgs_argv() {
  auto argv = report_argv("vgs");
  argv.insert(argv.end(), {"--options", "vg_name,vg_size,vg_free,lv_count"});
  return argv;
}

std::vector<VgInfo> parse_vgs(std::string_view output) {
  std::vector<VgInfo> out;
  for (const auto& line : block::lines(output)) {
    auto f = block::fields(line, ':');
    if (f.size() < 3 || f[0].empty()) continue;
    VgInfo vg;
    vg.name = f[0];
    vg.size = int_field(f[1]);
    vg.free = int_field(f[2]);
    if (f.size() > 3) vg.lv_count = int_field(f[3]);
    out.push_back(std::move(vg));
  }
  return out;
}

std::vector<std::string> lvs_argv(const std::string& vg) {
  auto argv = report_argv("lvs");
  argv.insert(argv.end(), {"--config", "report/time_format=\"%s\"", "--options",
                           "vg_name,lv_name,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,snap_percent,"
                           "uuid,tags,metadata_size,time"});
  if (!vg.empty()) argv.push_back(vg);
  return argv;
}

std::vector<LvInfo> parse_lvs(std::string_view output) {
  std::vector<LvInfo> out;
  for (const auto& line : block::lines(output)) {
    auto f = block::fields(line, ':');
    if (f.size() < 12 || f[0].empty() || f[1].empty()) continue;
    LvInfo lv;
    lv.vg = f[0];
    lv.name = f[1];
    lv.size = int_field(f[2]);
    lv.attr = f[3];
    lv.pool_lv = f[4];
    if (!f[9].empty()) lv.tags = split_any(f[9], ",");
    lv.metadata_size = int_field(f[10]);
    lv.ctime = int_field(f[11]);
    if (lv.type() == 't') {
      lv.used = static_cast<std::int64_t>(percent_field(f[5]) * static_cast<double>(lv.size) / 100.0);
      lv.metadata_used =
          static_cast<std::int64_t>(percent_field(f[6]) * static_cast<double>(lv.metadata_size) / 100.0);
    }
    out.push_back(std::move(lv));
  }
  return out;
}

std::vector<std::string> lv_size_argv(const std::string& device) {
  auto argv = report_argv("lvs");
  argv.insert(argv.end(), {"--options", "lv_size", device});
  return argv;
}

std::vector<std::string> lvcreate_argv(const std::string& vg, const std::string& name, std::int64_t size_kib,
                                       const std::vector<std::string>& tags) {
  std::vector<std::string> argv = {"lvcreate", "-aly", "-Wy", "--yes", "--size", size_arg_kib(size_kib),
                                   "--name", name, "--setautoactivation", "n"};
  for (const auto& tag : tags) argv.insert(argv.end(), {"--addtag", tag});
  argv.push_back(vg);
  return argv;
}

std::vector<std::string> lvremove_argv(const std::string& vg, const std::string& name) {
  return {"lvremove", "-f", vg + "/" + name};
}

std::vector<std::string> lvrename_argv(const std::string& vg, const std::string& from, const std::string& to) {
  return {"lvrename", vg, from, to};
}

std::vector<std::string> lvextend_argv(const std::string& device, std::int64_t size_kib) {
  return {"lvextend", "-L", size_arg_kib(size_kib), device};
}

std::vector<std::string> lvchange_activate_argv(const std::string& target, bool on) {
  return {"lvchange", on ? "-aly" : "-aln", target};
}

std::vector<std::string> thin_create_argv(const std::string& vg, const std::string& pool, const std::string& name,
                                          std::int64_t size_kib) {
  return {"lvcreate", "-aly", "-V", size_arg_kib(size_kib), "--name", name, "--thinpool", vg + "/" + pool};
}

std::vector<std::string> set_autoactivation_argv(const std::string& vg, const std::string& name, bool on) {
  return {"lvchange", "--setautoactivation", on ? "y" : "n", vg + "/" + name};
}

std::string thin_snapshot_lv(std::string_view volname, std::string_view snap) {
  return "snap_" + std::string(volname) + "_" + std::string(snap);
}

std::vector<std::string> thin_snapshot_argv(const std::string& vg, const std::string& volname,
                                            const std::string& snap) {
  return {"lvcreate", "-n", thin_snapshot_lv(volname, snap), "-pr", "-s", vg + "/" + volname};
}

std::vector<std::string> thin_clone_argv(const std::string& source_lv, const std::string& name) {
  return {"lvcreate", "-n", name, "-prw", "-kn", "-s", source_lv};
}

std::vector<std::string> thin_rollback_argv(const std::string& vg, const std::string& volname,
                                            const std::string& snap) {
  return {"lvcreate", "-kn", "-n", volname, "-s", vg + "/" + thin_snapshot_lv(volname, snap)};
}

std::vector<std::string> run(const std::vector<std::string>& argv) {
  CommandOptions opts;
  opts.env = {"LVM_SUPPRESS_FD_WARNINGS=1"};
  return block::lines(run_command(argv, opts).out);
}

std::vector<VgInfo> list_vgs() {
  CommandOptions opts;
  opts.env = {"LVM_SUPPRESS_FD_WARNINGS=1"};
  // vgs exits non-zero when a clustered VG cannot be read but still reports the others.
  opts.check = false;
  auto res = run_command(vgs_argv(), opts);
  if (res.exit_code != 0 && res.out.empty()) {
    throw Error("vgs failed: " + std::string(trim(res.err)), 500);
  }
  return parse_vgs(res.out);
}

std::vector<LvInfo> list_lvs(const std::string& vg) {
  CommandOptions opts;
  opts.env = {"LVM_SUPPRESS_FD_WARNINGS=1"};
  return parse_lvs(run_command(lvs_argv(vg), opts).out);
}

std::int64_t lv_bytes(const std::string& device, std::string_view volname) {
  auto lines = run(lv_size_argv(device));
  auto size = lines.empty() ? std::nullopt : block::to_int(lines[0]);
  if (!size) throw Error("can't get size of lvm volume '" + std::string(volname) + "'", 500);
  return *size;
}

void lv_grow(const std::string& device, std::int64_t size_bytes) { run(lvextend_argv(device, (size_bytes + 1023) / 1024)); }

void remove_quietly(const std::string& vg, const std::string& name) {
  try {
    run(lvremove_argv(vg, name));
  } catch (...) {
  }
}

}  // namespace pvx::storage::lvm
