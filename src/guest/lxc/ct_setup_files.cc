// Files that setup shares with the container's admin: only the part between PVE's
// "# --- BEGIN PVE ---" and "# --- END PVE ---" lines is ours, the rest is kept.
#include <regex>

#include "base/strings.h"
#include "guest/lxc/ct_setup_impl.h"

namespace pvx::guest::lxc::setup {
namespace {

constexpr std::string_view kHead = "# --- BEGIN PVE ---\n";
constexpr std::string_view kTail = "# --- END PVE ---";

}  // namespace

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    lines.emplace_back(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

std::vector<std::string> split_list(std::string_view text) { return split_any(text, " \t\r\n,;"); }

std::string remove_pve_sections(std::string_view text) {
  // Drops each BEGIN marker line through the next END marker line, as PVE does before it looks
  // for entries the admin keeps outside our section. A BEGIN without END is left alone.
  auto marker = [](std::string_view line, std::string_view what) {
    const auto start = line.find_first_not_of(" \t");
    return start != std::string_view::npos && line.substr(start).rfind(what, 0) == 0;
  };
  const auto lines = lines_of(text);
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (marker(lines[i], "# --- BEGIN PVE ---")) {
      std::size_t j = i;
      while (j < lines.size() && !marker(lines[j], kTail)) ++j;
      if (j < lines.size()) {
        i = j;
        continue;
      }
    }
    out += lines[i] + "\n";
  }
  return out;
}

std::optional<std::string> splice_section(const std::optional<std::string>& old, std::string data,
                                          Placement placement, bool delete_if_empty, bool* remove) {
  *remove = false;
  if (!data.empty() && data.back() != '\n') data += '\n';
  const std::string section = std::string(kHead) + data + std::string(kTail);
  if (!old) {
    if (data.empty()) return std::nullopt;
    return section + "\n";
  }
  auto lines = lines_of(*old);
  static const std::regex begin_re(R"(^#\s*---\s*BEGIN\s*PVE\s*)");
  static const std::regex end_re(R"(^#\s*---\s*END\s*PVE\s*)", std::regex::icase);
  std::optional<std::size_t> begin, end;
  for (std::size_t i = 0; i < lines.size() && !end; ++i) {
    if (!begin && std::regex_search(lines[i], begin_re)) {
      begin = i;
    } else if (begin && std::regex_search(lines[i], end_re)) {
      end = i;
    }
  }
  if (begin && end) {
    if (data.empty() && *begin == 0 && *end + 1 == lines.size()) {
      // The file is only our (now empty) section.
      if (delete_if_empty) *remove = true;
      return delete_if_empty ? std::optional<std::string>("") : std::nullopt;
    }
    lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(*begin), lines.begin() + static_cast<std::ptrdiff_t>(*end) + 1);
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(*begin), section);
    return join_lines(lines);
  }
  if (data.empty()) return std::nullopt;
  std::string content = join_lines(lines);
  if (content.empty()) content = "\n";
  switch (placement) {
    case Placement::replace: return section + "\n";
    case Placement::prepend: return section + "\n" + content;
    case Placement::append: break;
  }
  return content + section + "\n";
}

void modify_file(Context& ctx, std::string_view path, std::string data, Placement placement, bool delete_if_empty,
                 mode_t mode) {
  if (ctx.fs.ignored(path)) return;
  bool remove = false;
  const auto old = ctx.fs.read(path);
  auto text = splice_section(old, std::move(data), placement, delete_if_empty, &remove);
  if (remove) {
    ctx.fs.remove(path);
  } else if (text) {
    ctx.fs.write(path, *text, mode);
  }
}

}  // namespace pvx::guest::lxc::setup
