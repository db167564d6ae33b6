#pragma once
// Declared schemas for API parameters, return values, config keys and property strings.
//
// A Schema is plain data, declared once beside the thing it describes (an API method, a config
// file section type) and shared read-only (SchemaRef) by everything derived from it: the router's
// validation, the CLI's option parser, the schema dump, the OpenAPI document and man pages.
// Declarations are written with the rvalue builders below, e.g.
//
//   object({
//     {"node", std_opt::node()},
//     {"vmid", std_opt::vmid().opt()},
//     {"limit", integer("Only list this number of tasks.").min(0).def(50).opt()},
//   })
//
// Schemas are built once at start-up and never change afterwards, so they are safe to read from
// any thread.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvx::schema {

using Json = nlohmann::json;

enum class Type : std::uint8_t { Null, Boolean, Integer, Number, String, Object, Array, Any };
const char* type_name(Type t);

struct Schema;
using SchemaRef = std::shared_ptr<const Schema>;
using Property = std::pair<std::string, SchemaRef>;

struct Schema {
  Type type = Type::Any;
  std::string description;
  std::string verbose_description;
  bool optional = false;
  Json default_value;  // null when there is no default

  // Integer and Number.
  std::optional<double> minimum, maximum;
  // String.
  std::optional<std::size_t> min_length, max_length;
  std::string pattern;                   // ECMAScript regex, matched against the whole value
  std::vector<std::string> enumeration;  // allowed values (strings)
  std::string format;                    // a named format from formats.h, e.g. "pve-vmid"
  SchemaRef format_object;               // property-string keys (an Object schema)
  std::string default_key;               // in a property-string object: key allowed without "key="
  std::string alias;                     // in a property-string object: this key aliases another
  // In a property-string object, a key whose name is itself a value: "virtio=MAC" stores the key
  // name in `key_alias` ("model") and the value in `alias` ("macaddr"), as PVE's keyAlias.
  std::string key_alias;
  std::string format_description;
  std::string typetext;  // overrides the derived type text
  std::string requires_;  // ("requires" is a keyword) name of another parameter that must be given with this one
  std::string title, renderer;

  // Object: properties sorted by name (the builder sorts them).
  std::vector<Property> properties;
  bool additional_properties = false;
  // Array.
  SchemaRef items;
  // Links in list results ({"rel": "child", "href": "{vmid}"}), kept for the schema dump.
  std::string child_link;

  // Look up a property of an Object schema; nullptr when absent.
  const Schema* property(std::string_view name) const;

  // ---- builders (rvalue only: declarations are always temporaries) ----
  Schema&& opt(bool on = true) && { optional = on; return std::move(*this); }
  Schema&& desc(std::string d) && { description = std::move(d); return std::move(*this); }
  Schema&& verbose(std::string d) && { verbose_description = std::move(d); return std::move(*this); }
  Schema&& def(Json v) && { default_value = std::move(v); return std::move(*this); }
  Schema&& min(double v) && { minimum = v; return std::move(*this); }
  Schema&& max(double v) && { maximum = v; return std::move(*this); }
  Schema&& min_len(std::size_t v) && { min_length = v; return std::move(*this); }
  Schema&& max_len(std::size_t v) && { max_length = v; return std::move(*this); }
  Schema&& pat(std::string p) && { pattern = std::move(p); return std::move(*this); }
  Schema&& fmt(std::string f) && { format = std::move(f); return std::move(*this); }
  Schema&& fmt_desc(std::string d) && { format_description = std::move(d); return std::move(*this); }
  Schema&& text(std::string t) && { typetext = std::move(t); return std::move(*this); }
  Schema&& req(std::string r) && { requires_ = std::move(r); return std::move(*this); }
  Schema&& with_title(std::string t) && { title = std::move(t); return std::move(*this); }
  Schema&& render(std::string r) && { renderer = std::move(r); return std::move(*this); }
  Schema&& as_alias(std::string of) && { alias = std::move(of); return std::move(*this); }
  Schema&& additional(bool on = true) && { additional_properties = on; return std::move(*this); }
  Schema&& link(std::string href) && { child_link = std::move(href); return std::move(*this); }
};

// ---- constructors of declarations ----
Schema boolean(std::string description = {});
Schema integer(std::string description = {});
Schema number(std::string description = {});
Schema string(std::string description = {});
Schema null_type();
Schema any(std::string description = {});
Schema enumeration(std::vector<std::string> values, std::string description = {});
Schema object(std::vector<std::pair<std::string, Schema>> properties, std::string description = {});
Schema array(Schema items, std::string description = {});
// A string parsed as a property string ("virtio=..,bridge=vmbr0") whose keys are `keys`.
Schema property_string(std::vector<std::pair<std::string, Schema>> keys, std::string default_key = {},
                       std::string description = {});

// Property-string keys that only redirect: "volume=x" means "file=x" (alias_of("file")), and
// "virtio=MAC" means model=virtio,macaddr=MAC (key_alias_of("model", "macaddr")).
Schema alias_of(std::string target);
Schema key_alias_of(std::string key, std::string value_key);

SchemaRef ref(Schema s);

// Standard options shared by many declarations, as PVE's get_standard_option.
namespace std_opt {
Schema node();         // "The cluster node name." pve-node
Schema vmid();         // integer pve-vmid 100..999999999
Schema storage_id();   // pve-storage-id
Schema userid();       // pve-userid
Schema tokenid();      // token name (pve-tokenid)
Schema realm();        // pve-realm
Schema poolid();       // pve-poolid
Schema digest();       // config digest, max 64 chars
Schema upid();         // task UPID
Schema mac_addr();     // unicast MAC address, optional
Schema bridge_id();    // pve-bridge-id
Schema iface();        // network interface name, 2..20 chars
Schema skiplock();     // "Ignore locks - only root is allowed to use this option."
Schema snapshot_name();  // pve-configid, max 40 chars
Schema startup_order();  // pve-startup-order, optional
}  // namespace std_opt

}  // namespace pvx::schema
