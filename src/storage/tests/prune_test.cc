#include "storage/prune.h"

#include <gtest/gtest.h>

#include <ctime>

namespace pvx::storage {
namespace {

// Local-time timestamps, as vzdump names backups.
std::int64_t at(int y, int mo, int d, int h = 12) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(std::mktime(&tm));
}

std::vector<PruneEntry> daily_backups(int days) {
  std::vector<PruneEntry> out;
  for (int d = 1; d <= days; ++d) out.push_back({"s:backup/b" + std::to_string(d), at(2024, 1, d), "qemu", 100});
  return out;
}

std::map<std::string, std::string> marks(const std::vector<PruneEntry>& v) {
  std::map<std::string, std::string> m;
  for (const auto& e : v) m[e.volid] = e.mark;
  return m;
}

TEST(Prune, KeepLastKeepsTheNewest) {
  auto v = daily_backups(5);
  prune_mark(v, parse_prune_options("keep-last=2"));
  auto m = marks(v);
  EXPECT_EQ(m["s:backup/b5"], "keep");
  EXPECT_EQ(m["s:backup/b4"], "keep");
  EXPECT_EQ(m["s:backup/b3"], "remove");
  EXPECT_EQ(m["s:backup/b1"], "remove");
}

TEST(Prune, DailyKeepsTheLatestOfEachDay) {
  std::vector<PruneEntry> v = {{"s:backup/a", at(2024, 1, 1, 8), "qemu", 100},
                               {"s:backup/b", at(2024, 1, 1, 20), "qemu", 100},
                               {"s:backup/c", at(2024, 1, 2, 8), "qemu", 100}};
  prune_mark(v, parse_prune_options("keep-daily=2"));
  auto m = marks(v);
  EXPECT_EQ(m["s:backup/c"], "keep");
  EXPECT_EQ(m["s:backup/b"], "keep");
  EXPECT_EQ(m["s:backup/a"], "remove");
}

TEST(Prune, RulesDoNotCountPeriodsAlreadyKept) {
  // keep-last=1 keeps Jan 31; keep-monthly=2 then skips January (covered) and keeps December's latest.
  std::vector<PruneEntry> v = {{"s:backup/jan31", at(2024, 1, 31), "qemu", 100},
                               {"s:backup/jan15", at(2024, 1, 15), "qemu", 100},
                               {"s:backup/dec20", at(2023, 12, 20), "qemu", 100},
                               {"s:backup/dec10", at(2023, 12, 10), "qemu", 100},
                               {"s:backup/nov10", at(2023, 11, 10), "qemu", 100}};
  prune_mark(v, parse_prune_options("keep-last=1,keep-monthly=2"));
  auto m = marks(v);
  EXPECT_EQ(m["s:backup/jan31"], "keep");
  EXPECT_EQ(m["s:backup/jan15"], "remove");
  EXPECT_EQ(m["s:backup/dec20"], "keep");
  EXPECT_EQ(m["s:backup/nov10"], "keep");
  EXPECT_EQ(m["s:backup/dec10"], "remove");
}

TEST(Prune, ProtectedAndKeepAllAndGroups) {
  auto v = daily_backups(3);
  v[0].is_protected = true;
  v.push_back({"s:backup/ct", at(2024, 1, 1), "lxc", 100});
  prune_mark(v, parse_prune_options("keep-last=1"));
  auto m = marks(v);
  EXPECT_EQ(m["s:backup/b1"], "protected");
  EXPECT_EQ(m["s:backup/b3"], "keep");
  EXPECT_EQ(m["s:backup/b2"], "remove");
  EXPECT_EQ(m["s:backup/ct"], "keep");  // its own group

  auto all = daily_backups(3);
  prune_mark(all, parse_prune_options("keep-all=1"));
  for (const auto& e : all) EXPECT_EQ(e.mark, "keep");
  auto none = daily_backups(3);
  prune_mark(none, PruneOptions{});
  for (const auto& e : none) EXPECT_EQ(e.mark, "keep");
}

}  // namespace
}  // namespace pvx::storage
