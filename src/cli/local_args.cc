#include "cli/local_args.h"

#include "base/error.h"

namespace pvx::cli {

LocalArgs parse_local(const Args& args, const std::set<std::string>& known) {
  LocalArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") {
      out.rest.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (a.starts_with("--") && a.size() > 2) {
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < args.size() && !args[i + 1].starts_with("--")) {
        value = args[++i];
      } else {
        value = "1";
      }
      if (!known.count(name)) throw Error::param(name, "unknown option");
      out.options[name] = value;
    } else {
      out.positional.push_back(a);
    }
  }
  return out;
}

bool truthy(const std::string& v) { return v == "1" || v == "yes" || v == "true" || v == "on"; }

}  // namespace pvx::cli
