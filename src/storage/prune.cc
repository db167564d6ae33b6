#include "storage/prune.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <set>

#include "base/error.h"
#include "base/strings.h"

namespace pvx::storage {
namespace {

std::tm local(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return tm;
}

std::string period(const char* fmt, std::int64_t t) {
  std::tm tm = local(t);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

struct Rule {
  const char* key;
  std::function<std::string(const PruneEntry&)> id;
};

const std::vector<Rule>& rules() {
  // In PVE's order: shorter intervals first, keep-last before all.
  static const std::vector<Rule> r = {
      {"keep-last", [](const PruneEntry& e) { return e.volid; }},
      {"keep-hourly", [](const PruneEntry& e) { return period("%Y/%m/%d/%H", e.ctime); }},
      {"keep-daily", [](const PruneEntry& e) { return period("%Y/%m/%d", e.ctime); }},
      {"keep-weekly", [](const PruneEntry& e) { return period("%G/%V", e.ctime); }},  // ISO week
      {"keep-monthly", [](const PruneEntry& e) { return period("%Y/%m", e.ctime); }},
      {"keep-yearly", [](const PruneEntry& e) { return period("%Y", e.ctime); }},
  };
  return r;
}

}  // namespace

PruneOptions parse_prune_options(const std::string& text) {
  PruneOptions o;
  for (const auto& item : split_any(text, ",")) {
    auto eq = item.find('=');
    if (eq == std::string::npos) continue;
    std::string key = std::string(trim(item.substr(0, eq)));
    std::string value = std::string(trim(item.substr(eq + 1)));
    if (key == "keep-all") {
      o.keep_all = value == "1";
    } else if (key.starts_with("keep-")) {
      try {
        auto n = std::stoll(value);
        if (n > 0) o.keep[key] = n;
      } catch (...) {
      }
    }
  }
  return o;
}

void check_prune_options(const std::string& text) {
  auto o = parse_prune_options(text);
  if (o.keep_all && !o.keep.empty()) {
    throw Error::param("prune-backups", "keep-all cannot be set together with other options.");
  }
}

void prune_mark_group(std::vector<PruneEntry>& group, const PruneOptions& options) {
  std::sort(group.begin(), group.end(), [](const auto& a, const auto& b) { return a.ctime > b.ctime; });
  for (auto& e : group) {
    if (e.is_protected) e.mark = "protected";
  }
  if (options.keep_all || options.empty()) {
    for (auto& e : group) {
      if (e.mark.empty()) e.mark = "keep";
    }
    return;
  }
  for (const auto& rule : rules()) {
    auto it = options.keep.find(rule.key);
    if (it == options.keep.end() || it->second <= 0) continue;
    // Periods already covered by backups an earlier rule keeps do not count again.
    std::set<std::string> already, newly;
    for (const auto& e : group) {
      if (e.mark == "keep") already.insert(rule.id(e));
    }
    for (auto& e : group) {
      if (!e.mark.empty()) continue;
      std::string id = rule.id(e);
      if (already.count(id) || newly.count(id)) continue;
      if (static_cast<std::int64_t>(newly.size()) >= it->second) break;
      newly.insert(id);
      e.mark = "keep";
    }
  }
  for (auto& e : group) {
    if (e.mark.empty()) e.mark = "remove";
  }
}

void prune_mark(std::vector<PruneEntry>& entries, const PruneOptions& options) {
  std::map<std::pair<std::string, std::int64_t>, std::vector<PruneEntry>> groups;
  for (auto& e : entries) groups[{e.type, e.vmid}].push_back(std::move(e));
  entries.clear();
  for (auto& [key, group] : groups) {
    prune_mark_group(group, options);
    for (auto& e : group) entries.push_back(std::move(e));
  }
}

}  // namespace pvx::storage
