#pragma once
// /etc/pve/datacenter.cfg: cluster-wide options as "key: value" lines, the description as '#'
// comment lines at the top (escaped with encode_text), structured values as property strings.
//
// The declared keys (datacenter_schema) are shared with the /cluster/options API, whose GET
// returns DatacenterConfig::values as they are and whose PUT validates against the same schema.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schema/schema.h"

namespace pvx::config {

// Object schema of every datacenter.cfg key (all optional); property-string keys carry their
// format_object. Built once, read-only.
const schema::SchemaRef& datacenter_schema();

struct DatacenterConfig {
  // Known keys with typed values in the shape PVE's API returns: property strings as objects
  // ({"migration": {"type": "secure"}}), "registered-tags" and "user-tag-access"."user-allow-list"
  // as arrays of tags, booleans 0/1, "description" decoded with one '\n' after each line.
  schema::Json values = schema::Json::object();
  // Keys this version does not know, kept verbatim (key, raw value) in file order so that a
  // newer PVE's settings survive a rewrite; printed sorted among the known keys.
  std::vector<std::pair<std::string, std::string>> unknown;

  bool operator==(const DatacenterConfig&) const = default;
};

struct ParsedDatacenterConfig {
  DatacenterConfig config;
  std::vector<std::string> warnings;  // unknown keys, unparsable lines, values that failed checks
};

// Lenient like PVE: a bad value is dropped with a warning naming the key. Deprecated spellings
// are upgraded: "console: applet" becomes html5, "migration_unsecure" becomes migration type.
ParsedDatacenterConfig parse_datacenter_cfg(std::string_view text, std::string_view filename = "datacenter.cfg");

// Description comment lines, an empty line, then "key: value" lines sorted by key. Throws Error
// 400 naming the key for a value that cannot be printed (e.g. next-id lower above upper).
std::string print_datacenter_cfg(const DatacenterConfig& config);

}  // namespace pvx::config
