// The declared keys of datacenter.cfg, checked against PVE's /cluster/options parameters.
#include "config/datacenter_cfg.h"

namespace pvx::config {
namespace {

using schema::boolean;
using schema::enumeration;
using schema::integer;
using schema::number;
using schema::object;
using schema::property_string;
using schema::string;

// A tag as PVE accepts it (its regex is case-insensitive).
constexpr const char* kTag = "[a-zA-Z0-9_][a-zA-Z0-9_\\-+.]*";

std::string tag_list_pattern() { return std::string("(?:") + kTag + ";)*" + kTag; }

std::string color_map_pattern() {
  std::string one = std::string("(?:") + kTag + ":[0-9a-fA-F]{6}(?::[0-9a-fA-F]{6})?)";
  return one + "(?:;" + one + ")*";
}

schema::Schema limit(std::string what) {
  return number("Bandwidth limit in KiB/s for " + what + ".").min(0).fmt_desc("LIMIT").opt();
}

schema::Schema traffic(std::string what) {
  return property_string(
             {
                 {"type", enumeration({"secure", "insecure"},
                                      what + " traffic goes through an encrypted SSH tunnel by default; on "
                                             "trusted private networks it can be sent unencrypted.")
                              .def("secure")},
                 {"network", string("CIDR of the network that carries " + what + " traffic.")
                                 .fmt("CIDR")
                                 .fmt_desc("CIDR")
                                 .opt()},
             },
             "type", "Cluster-wide " + what + " settings.")
      .opt();
}

schema::Schema build() {
  return object({
      {"bwlimit", property_string(
                      {
                          {"clone", limit("cloning disks")},
                          {"default", limit("any operation without its own limit")},
                          {"migration", limit("migrating guests (including local disks)")},
                          {"move", limit("moving disks")},
                          {"restore", limit("restoring guests from backups")},
                      },
                      {}, "I/O bandwidth limits for various operations, in KiB/s.")
                      .opt()},
      {"consent-text", string("Text shown before login, which the user has to accept.").max_len(64 * 1024).opt()},
      {"console", enumeration({"applet", "vv", "html5", "xtermjs"},
                              "Default console viewer: 'applet' (deprecated, means html5), 'vv' "
                              "(SPICE client), 'html5' (noVNC) or 'xtermjs'.")
                      .opt()},
      {"crs",
       property_string(
           {
               {"ha", enumeration({"basic", "static", "dynamic"}, "Scheduler mode the HA manager uses to place services.")
                          .def("basic")
                          .opt()},
               {"ha-auto-rebalance", boolean("Let the CRS move HA services to balance node load.").def(0).opt()},
               {"ha-auto-rebalance-hold-duration",
                number("HA rounds a node imbalance must persist before rebalancing.").min(0).def(3).req("ha-auto-rebalance").opt()},
               {"ha-auto-rebalance-margin",
                number("Minimum relative improvement a rebalancing move must bring.").min(0).def(0.1).req("ha-auto-rebalance").opt()},
               {"ha-auto-rebalance-method", enumeration({"bruteforce", "topsis"}, "Scoring method for rebalancing moves.")
                                                .def("bruteforce")
                                                .req("ha-auto-rebalance")
                                                .opt()},
               {"ha-auto-rebalance-threshold",
                number("Node imbalance above which rebalancing starts.").min(0).def(0.3).req("ha-auto-rebalance").opt()},
               {"ha-rebalance-on-start",
                boolean("Use the CRS to pick a node when an HA service goes from stopped to started.").def(0).opt()},
           },
           {}, "Cluster resource scheduling settings.")
           .opt()},
      {"description", string("Datacenter notes shown in the web interface; stored as comment lines at the "
                             "top of the file.")
                          .max_len(64 * 1024)
                          .opt()},
      // PVE declares format email-opt (an address or nothing); schema/ has only "email" so far.
      {"email_from", string("Sender address of notification mails (default root@<hostname>).").fmt("email").opt()},
      {"fencing", enumeration({"watchdog", "hardware", "both"}, "Fencing mode of the HA cluster.").def("watchdog").opt()},
      {"ha", property_string(
                 {
                     {"shutdown_policy",
                      enumeration({"freeze", "failover", "conditional", "migrate"},
                                  "What happens to HA services when their node shuts down or reboots.")
                          .def("conditional")},
                 },
                 {}, "Cluster-wide HA settings.")
                 .opt()},
      {"http_proxy", string("External HTTP proxy for downloads, e.g. 'http://user:password@host:port/'.")
                         .pat("http://.*")
                         .opt()},
      {"keyboard", enumeration({"de", "de-ch", "da", "en-gb", "en-us", "es", "fi", "fr", "fr-be", "fr-ca", "fr-ch",
                                "hu", "is", "it", "ja", "lt", "mk", "nl", "no", "pl", "pt", "pt-br", "sv", "sl", "tr"},
                               "Default keyboard layout of the VNC console.")
                       .opt()},
      {"language", enumeration({"ar", "ca", "da", "de", "en", "es", "eu", "fa", "fr", "hr", "he", "it", "ja", "ka",
                                "kr", "nb", "nl", "nn", "pl", "pt_BR", "ru", "sl", "sv", "tr", "ukr", "zh_CN", "zh_TW"},
                               "Default language of the web interface.")
                       .opt()},
      {"mac_prefix", string("Prefix of generated guest MAC addresses.").fmt("mac-prefix").def("BC:24:11").opt()},
      {"max_workers", integer("Maximum number of parallel workers per node for bulk actions such as "
                              "'stopall' or HA tasks.")
                          .min(1)
                          .opt()},
      {"migration", traffic("migration")},
      {"migration_unsecure", boolean("Deprecated: use 'migration: type=insecure'.").opt()},
      {"next-id", property_string(
                      {
                          {"lower", integer("Lowest VMID (inclusive) /cluster/nextid hands out.")
                                        .min(100)
                                        .max(999999999)
                                        .def(100)
                                        .opt()},
                          {"upper", integer("VMID bound (exclusive) for /cluster/nextid.")
                                        .min(100)
                                        .max(1000000000)
                                        .def(1000000)
                                        .opt()},
                      },
                      {}, "Range from which free VMIDs are picked automatically.")
                      .opt()},
      {"notify", property_string(
                     {
                         {"fencing", enumeration({"always", "never"}, "Unused; superseded by notification matchers.").opt()},
                         {"package-updates", enumeration({"auto", "always", "never"},
                                                         "Deprecated; superseded by notification matchers.")
                                                 .def("auto")
                                                 .opt()},
                         {"replication", enumeration({"always", "never"}, "Unused; superseded by notification matchers.").opt()},
                         {"target-fencing", string("Unused; superseded by notification matchers.").fmt_desc("TARGET").opt()},
                         {"target-package-updates",
                          string("Unused; superseded by notification matchers.").fmt_desc("TARGET").opt()},
                         {"target-replication", string("Unused; superseded by notification matchers.").fmt_desc("TARGET").opt()},
                     },
                     {}, "Cluster-wide notification settings.")
                     .opt()},
      {"registered-tags", string("Tags that only users with Sys.Modify on '/' may set or remove (';' separated).")
                              .pat(tag_list_pattern())
                              .text("<tag>[;<tag>...]")
                              .opt()},
      {"replication", traffic("replication")},
      {"tag-style",
       property_string(
           {
               {"case-sensitive", boolean("Compare tags case-sensitively when removing duplicates.").def(0).opt()},
               {"color-map", string("Colors per tag (';' separated).")
                                 .pat(color_map_pattern())
                                 .text("<tag>:<hex-color>[:<hex-color-for-text>][;<tag>=...]")
                                 .opt()},
               {"ordering", enumeration({"config", "alphabetical"}, "Order of tags in the web interface and on update.")
                                .def("alphabetical")
                                .opt()},
               {"shape", enumeration({"full", "circle", "dense", "none"}, "How tags are drawn in the resource tree.")
                             .def("circle")
                             .opt()},
           },
           {}, "Tag style options.")
           .opt()},
      {"u2f", property_string(
                  {
                      {"appid", string("U2F AppId URL override (default: the origin).").fmt_desc("APPID").opt()},
                      {"origin", string("U2F origin override, useful for a single node with one URL.").fmt_desc("URL").opt()},
                  },
                  {}, "U2F settings.")
                  .opt()},
      {"user-tag-access",
       property_string(
           {
               {"user-allow", enumeration({"none", "list", "existing", "free"},
                                          "Which tags users without Sys.Modify on '/' may use.")
                                  .def("free")
                                  .opt()},
               {"user-allow-list", string("Tags those users may set and remove (';' separated).")
                                       .pat(std::string(kTag) + "(?:;" + kTag + ")*")
                                       .text("<tag>[;<tag>...]")
                                       .opt()},
           },
           {}, "Which tags users may set.")
           .opt()},
      {"webauthn", property_string(
                       {
                           {"allow-subdomains", boolean("Accept an origin that is a subdomain of the configured one.").def(1).opt()},
                           {"id", string("Relying party ID: the domain name alone. Changing it breaks existing "
                                         "credentials.")
                                      .fmt_desc("DOMAINNAME")
                                      .opt()},
                           {"origin", string("Site origin, an https:// URL (or http://localhost).").fmt_desc("URL").opt()},
                           {"rp", string("Relying party name, any text.").fmt_desc("RELYING_PARTY").opt()},
                       },
                       {}, "WebAuthn settings.")
                       .opt()},
  });
}

}  // namespace

const schema::SchemaRef& datacenter_schema() {
  static const schema::SchemaRef kSchema = schema::ref(build());
  return kSchema;
}

}  // namespace pvx::config
