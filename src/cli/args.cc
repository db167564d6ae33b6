#include <algorithm>

#include "base/error.h"
#include "cli/commands.h"

namespace pvx::cli {

const std::vector<std::string>& tool_names() {
  static const std::vector<std::string> names = {"qm",    "pct",    "pveam",  "pvesm",     "pveum",
                                                 "pvecm", "pvesh",  "vzdump", "ha-manager"};
  return names;
}

GlobalOptions take_global_options(Args& args) {
  GlobalOptions g;
  for (size_t i = 0; i < args.size();) {
    std::string a = args[i];
    std::string name = a.substr(0, a.find('='));
    if (name == "--data-dir" || name == "--output-format") {
      std::string value;
      if (a.find('=') != std::string::npos) {
        value = a.substr(a.find('=') + 1);
        args.erase(args.begin() + static_cast<long>(i));
      } else {
        if (i + 1 >= args.size()) throw Error::param(name.substr(2), "missing value");
        value = args[i + 1];
        args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      }
      (name == "--data-dir" ? g.data_dir : g.output_format) = value;
    } else {
      ++i;
    }
  }
  return g;
}

ParsedArgs parse_args(const Args& args, const schema::Schema* parameters) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > 2 && a.starts_with("--")) {
      std::string name = a.substr(2);
      std::string value;
      auto eq = name.find('=');
      const schema::Schema* s = parameters ? parameters->property(name.substr(0, eq)) : nullptr;
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (s && s->type == schema::Type::Boolean &&
                 (i + 1 >= args.size() || args[i + 1].starts_with("--"))) {
        value = "1";
      } else {
        if (i + 1 >= args.size()) throw Error::param(name, "missing value");
        value = args[++i];
      }
      auto& slot = out.options[name];
      if (slot.is_null()) slot = value;
      else if (slot.is_array()) slot.push_back(value);
      else slot = nlohmann::json::array({slot, value});
    } else {
      out.positional.push_back(a);
    }
  }
  return out;
}

}  // namespace pvx::cli
