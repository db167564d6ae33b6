#include "schema/schema.h"

#include <algorithm>
#include <stdexcept>

namespace pvx::schema {

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Boolean: return "boolean";
    case Type::Integer: return "integer";
    case Type::Number: return "number";
    case Type::String: return "string";
    case Type::Object: return "object";
    case Type::Array: return "array";
    case Type::Any: return "any";
  }
  return "any";
}

const Schema* Schema::property(std::string_view name) const {
  // Properties are sorted by the builder, so a binary search is enough.
  auto it = std::lower_bound(properties.begin(), properties.end(), name,
                             [](const Property& p, std::string_view n) { return p.first < n; });
  if (it == properties.end() || it->first != name) return nullptr;
  return it->second.get();
}

namespace {

Schema typed(Type t, std::string description) {
  Schema s;
  s.type = t;
  s.description = std::move(description);
  return s;
}

std::vector<Property> sorted_properties(std::vector<std::pair<std::string, Schema>> props) {
  std::vector<Property> out;
  out.reserve(props.size());
  for (auto& [name, s] : props) out.emplace_back(std::move(name), ref(std::move(s)));
  std::sort(out.begin(), out.end(), [](const Property& a, const Property& b) { return a.first < b.first; });
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (out[i - 1].first == out[i].first) throw std::logic_error("schema: duplicate property '" + out[i].first + "'");
  }
  return out;
}

}  // namespace

Schema boolean(std::string description) { return typed(Type::Boolean, std::move(description)); }
Schema integer(std::string description) { return typed(Type::Integer, std::move(description)); }
Schema number(std::string description) { return typed(Type::Number, std::move(description)); }
Schema string(std::string description) { return typed(Type::String, std::move(description)); }
Schema null_type() { return typed(Type::Null, {}); }
Schema any(std::string description) { return typed(Type::Any, std::move(description)); }

Schema enumeration(std::vector<std::string> values, std::string description) {
  Schema s = typed(Type::String, std::move(description));
  s.enumeration = std::move(values);
  return s;
}

Schema object(std::vector<std::pair<std::string, Schema>> properties, std::string description) {
  Schema s = typed(Type::Object, std::move(description));
  s.properties = sorted_properties(std::move(properties));
  return s;
}

Schema array(Schema items, std::string description) {
  Schema s = typed(Type::Array, std::move(description));
  s.items = ref(std::move(items));
  return s;
}

Schema property_string(std::vector<std::pair<std::string, Schema>> keys, std::string default_key,
                       std::string description) {
  Schema fmt = object(std::move(keys));
  if (!default_key.empty()) {
    const Schema* dk = fmt.property(default_key);
    // A wrong default key would silently make every unnamed value an error; catch it at start-up.
    if (dk == nullptr) throw std::logic_error("schema: default key '" + default_key + "' is not a key");
    if (!dk->alias.empty()) throw std::logic_error("schema: default key '" + default_key + "' is an alias");
  }
  fmt.default_key = std::move(default_key);
  Schema s = typed(Type::String, std::move(description));
  s.format_object = ref(std::move(fmt));
  return s;
}

Schema alias_of(std::string target) {
  Schema s;
  s.type = Type::Any;
  s.optional = true;
  s.alias = std::move(target);
  return s;
}

Schema key_alias_of(std::string key, std::string value_key) {
  Schema s = alias_of(std::move(value_key));
  s.key_alias = std::move(key);
  return s;
}

SchemaRef ref(Schema s) { return std::make_shared<const Schema>(std::move(s)); }

namespace std_opt {

Schema node() { return string("The cluster node name.").fmt("pve-node"); }

Schema vmid() { return integer("The (unique) ID of the VM.").fmt("pve-vmid").min(100).max(999999999); }

Schema storage_id() { return string("The storage identifier.").fmt("pve-storage-id").fmt_desc("storage ID"); }

Schema userid() { return string("Full User ID, in the `name@realm` format.").fmt("pve-userid").max_len(64); }

// PVE's token parameters carry only the token name (the part after '!'); the full
// "user@realm!name" form is the pve-tokenid format.
Schema tokenid() { return string("User-specific token identifier.").pat("[A-Za-z][A-Za-z0-9\\.\\-_]+"); }

Schema realm() { return string("Authentication domain ID").fmt("pve-realm").max_len(32); }

Schema poolid() { return string().fmt("pve-poolid"); }

Schema digest() {
  return string(
             "Prevent changes if current configuration file has a different digest. This can be used to "
             "prevent concurrent modifications.")
      .max_len(64)
      .opt();
}

Schema upid() { return string("The task's unique ID."); }

Schema mac_addr() {
  return string("Unicast MAC address.")
      .verbose("A common MAC address with the I/G (Individual/Group) bit not set.")
      .fmt_desc("XX:XX:XX:XX:XX:XX")
      .fmt("mac-addr")
      .opt();
}

Schema bridge_id() {
  return string("Bridge to attach guest network devices to.").fmt("pve-bridge-id").fmt_desc("bridge");
}

Schema iface() { return string("Network interface name.").fmt("pve-iface").min_len(2).max_len(20); }

Schema skiplock() { return boolean("Ignore locks - only root is allowed to use this option.").opt(); }

Schema snapshot_name() { return string("The name of the snapshot.").fmt("pve-configid").max_len(40); }

Schema startup_order() {
  return string(
             "Startup and shutdown behavior. Order is a non-negative number defining the general startup "
             "order. Shutdown in done with reverse ordering. Additionally you can set the 'up' or 'down' "
             "delay in seconds, which specifies a delay to wait before the next VM is started or stopped.")
      .fmt("pve-startup-order")
      .text("[[order=]\\d+] [,up=\\d+] [,down=\\d+] ")
      .opt();
}

}  // namespace std_opt

}  // namespace pvx::schema
