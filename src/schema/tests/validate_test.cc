#include "schema/validate.h"

#include <gtest/gtest.h>

namespace pvx::schema {
namespace {

Schema params_schema() {
  return object({
      {"node", std_opt::node()},
      {"vmid", std_opt::vmid()},
      {"limit", integer("Max entries.").min(0).max(1000).opt()},
      {"force", boolean().opt()},
      {"name", string().min_len(3).max_len(8).opt()},
      {"mode", enumeration({"stop", "suspend", "snapshot"}).opt()},
      {"hostname", string().pat("[a-z]+").opt()},
      {"rate", number().min(0.5).opt()},
      {"ids", array(integer()).opt()},
      {"tags", string().fmt("pve-tag-list").opt()},
      {"comment", string().opt()},
      {"target", string().opt()},
      {"targetstorage", std_opt::storage_id().req("target").opt()},
      {"net0", property_string({{"model", enumeration({"e1000", "virtio"})},
                                {"macaddr", std_opt::mac_addr()},
                                {"virtio", key_alias_of("model", "macaddr")},
                                {"e1000", key_alias_of("model", "macaddr")},
                                {"tag", integer().min(1).max(4094).opt()}},
                               "model")
                   .opt()},
  });
}

// Runs validate_params and returns the per-parameter messages (empty when valid).
Error::ParamErrors errors_of(Json params) {
  try {
    validate_params(params_schema(), params);
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_STREQ(e.what(), "Parameter verification failed.");
    return e.params();
  }
  return {};
}

std::string error_of(Json params, const std::string& name) {
  auto errors = errors_of(std::move(params));
  auto it = errors.find(name);
  return it == errors.end() ? "<no error>" : it->second;
}

TEST(ValidateParams, CoercesStringsToDeclaredTypes) {
  Json p = {{"node", "pve1"}, {"vmid", "100"}, {"limit", "+50"}, {"force", "1"}, {"rate", "2.5"}, {"ids", "7"}};
  validate_params(params_schema(), p);
  EXPECT_EQ(p["vmid"], 100);
  EXPECT_TRUE(p["vmid"].is_number_integer());
  EXPECT_EQ(p["limit"], 50);
  EXPECT_EQ(p["force"], true);
  EXPECT_DOUBLE_EQ(p["rate"].get<double>(), 2.5);
  EXPECT_EQ(p["ids"], Json::array({7}));  // one value for an array parameter becomes a list
  EXPECT_EQ(p["node"], "pve1");
}

TEST(ValidateParams, BooleanSpellings) {
  for (const char* t : {"1", "true", "TRUE", "True", "yes", "On"}) {
    Json p = {{"node", "n"}, {"vmid", 100}, {"force", t}};
    validate_params(params_schema(), p);
    EXPECT_EQ(p["force"], true) << t;
  }
  for (const char* f : {"0", "false", "No", "OFF"}) {
    Json p = {{"node", "n"}, {"vmid", 100}, {"force", f}};
    validate_params(params_schema(), p);
    EXPECT_EQ(p["force"], false) << f;
  }
  Json typed = {{"node", "n"}, {"vmid", 100}, {"force", 0}};
  validate_params(params_schema(), typed);
  EXPECT_EQ(typed["force"], false);
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"force", "maybe"}}, "force"), "type check ('boolean') failed - got 'maybe'");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"force", 2}}, "force"), "type check ('boolean') failed - got '2'");
}

TEST(ValidateParams, TypedJsonBodyValues) {
  Json p = {{"node", "n"}, {"vmid", 100.0}, {"comment", 5}, {"force", true}};
  validate_params(params_schema(), p);
  EXPECT_TRUE(p["vmid"].is_number_integer());
  EXPECT_EQ(p["comment"], "5");
  EXPECT_EQ(p["force"], true);
}

TEST(ValidateParams, IntegerAndRangeMessages) {
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", "abc"}}, "vmid"), "type check ('integer') failed - got 'abc'");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", "1.5"}}, "vmid"), "type check ('integer') failed - got '1.5'");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"limit", "-1"}}, "limit"), "value must have a minimum value of 0");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"limit", "1001"}}, "limit"), "value must have a maximum value of 1000");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"rate", "0.25"}}, "rate"), "value must have a minimum value of 0.5");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"rate", "fast"}}, "rate"), "type check ('number') failed - got 'fast'");
  // PVE checks the format before the range, so a small VM ID fails as a bad VM ID.
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", "99"}}, "vmid"), "invalid format - value does not look like a valid VM ID");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", "1000000000"}}, "vmid"), "invalid format - value does not look like a valid VM ID");
}

TEST(ValidateParams, StringMessages) {
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"name", "ab"}}, "name"), "value must be at least 3 characters long");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"name", "abcdefghi"}}, "name"), "value may only be 8 characters long");
  // Length counts characters, not bytes.
  EXPECT_TRUE(errors_of({{"node", "n"}, {"vmid", 100}, {"name", "\xc3\xa4\xc3\xb6\xc3\xbc"}}).empty());
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"mode", "halt"}}, "mode"),
            "value 'halt' does not have a value in the enumeration 'stop, suspend, snapshot'");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"hostname", "Abc"}}, "hostname"), "value does not match the regex pattern");
  EXPECT_EQ(error_of({{"node", "bad_node"}, {"vmid", 100}}, "node"), "invalid format - value does not look like a valid node name");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"tags", "a;-b"}}, "tags"), "invalid format - invalid characters in tag");
}

TEST(ValidateParams, MissingUnknownAndRequires) {
  auto errors = errors_of({{"vmid", 100}, {"bogus", 1}});
  EXPECT_EQ(errors["node"], "property is missing and it is not optional");
  EXPECT_EQ(errors["bogus"], "property is not defined in schema and the schema does not allow additional properties");
  EXPECT_EQ(errors.size(), 2u);
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"targetstorage", "local"}}, "target"),
            "missing property required by 'targetstorage'");
  EXPECT_TRUE(errors_of({{"node", "n"}, {"vmid", 100}, {"targetstorage", "local"}, {"target", "pve2"}}).empty());
}

TEST(ValidateParams, AdditionalPropertiesAllowed) {
  Schema s = object({{"a", integer()}}).additional();
  Json p = {{"a", "1"}, {"extra", "x"}};
  validate_params(s, p);
  EXPECT_EQ(p["a"], 1);
  EXPECT_EQ(p["extra"], "x");
}

TEST(ValidateParams, NullsCountAsAbsent) {
  Json p = {{"node", "n"}, {"vmid", 100}, {"limit", nullptr}};
  validate_params(params_schema(), p);
  EXPECT_FALSE(p.contains("limit"));
  EXPECT_EQ(error_of({{"node", nullptr}, {"vmid", 100}}, "node"), "property is missing and it is not optional");
}

TEST(ValidateParams, RepeatedValues) {
  // An array for a plain string parameter is refused as PVE does.
  EXPECT_EQ(error_of({{"node", Json::array({"a", "b"})}, {"vmid", 100}}, "node"), "type check ('string') failed - got ARRAY");
  // A "-list" string accepts an array and keeps its string form.
  Json p = {{"node", "n"}, {"vmid", 100}, {"tags", Json::array({"a", "b"})}};
  validate_params(params_schema(), p);
  EXPECT_EQ(p["tags"], "a,b");
  // Arrays accept lists and convert each element.
  Json q = {{"node", "n"}, {"vmid", 100}, {"ids", Json::array({"1", "2"})}};
  validate_params(params_schema(), q);
  EXPECT_EQ(q["ids"], Json::array({1, 2}));
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"ids", Json::array({"1", "x"})}}, "ids[1]"),
            "type check ('integer') failed - got 'x'");
}

TEST(ValidateParams, PropertyStringParametersStayStrings) {
  Json p = {{"node", "n"}, {"vmid", 100}, {"net0", "virtio=BC:24:11:AA:BB:CC,tag=10"}};
  validate_params(params_schema(), p);
  EXPECT_EQ(p["net0"], "virtio=BC:24:11:AA:BB:CC,tag=10");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"net0", "virtio,tag=5000"}}, "net0"),
            "invalid format - format error\nnet0.tag: value must have a maximum value of 4094");
  EXPECT_EQ(error_of({{"node", "n"}, {"vmid", 100}, {"net0", "virtio,tag=1,tag=2"}}, "net0"),
            "invalid format - duplicate key in comma-separated list property: tag");
}

TEST(ValidateParams, NonObjectParams) {
  Json p = Json::array();
  EXPECT_THROW(validate_params(params_schema(), p), Error);
}

TEST(CheckValue, StrictTypes) {
  Schema item = object({{"vmid", integer()}, {"name", string().opt()}, {"template", boolean().opt()}});
  Schema list = array(item);
  Error::ParamErrors errors;
  check_value(list, Json::array({{{"vmid", 100}, {"template", 1}}, {{"vmid", "101"}, {"name", 5}}}), "data", errors);
  EXPECT_EQ(errors["data[1].vmid"], "type check ('integer') failed - got '101'");
  EXPECT_EQ(errors["data[1].name"], "type check ('string') failed - got '5'");
  EXPECT_EQ(errors.size(), 2u);

  Error::ParamErrors ok;
  check_value(list, Json::array({{{"vmid", 100}, {"template", true}}}), "data", ok);
  EXPECT_TRUE(ok.empty());

  Error::ParamErrors missing;
  check_value(item, Json::object(), "data", missing);
  EXPECT_EQ(missing["data.vmid"], "property is missing and it is not optional");

  Error::ParamErrors not_array;
  check_value(list, Json::object(), "data", not_array);
  EXPECT_EQ(not_array["data"], "type check ('array') failed");

  Error::ParamErrors bool_bad;
  check_value(boolean(), "1", "v", bool_bad);
  EXPECT_EQ(bool_bad["v"], "type check ('boolean') failed - got '1'");
}

TEST(CheckValue, NullAndAny) {
  Error::ParamErrors errors;
  check_value(null_type(), nullptr, "r", errors);
  check_value(any(), Json::array({1, "x"}), "r", errors);
  EXPECT_TRUE(errors.empty());
  check_value(null_type(), 1, "r", errors);
  EXPECT_EQ(errors["r"], "type check ('null') failed - value is not null");
}

TEST(CheckValue, FreeFormObjectsAndExtraKeys) {
  Error::ParamErrors errors;
  check_value(object({}), Json{{"anything", 1}}, "r", errors);
  EXPECT_TRUE(errors.empty());
  check_value(object({{"a", integer()}}), Json{{"a", 1}, {"b", 2}}, "r", errors);
  EXPECT_EQ(errors["r.b"], "property is not defined in schema and the schema does not allow additional properties");
}

}  // namespace
}  // namespace pvx::schema

namespace pvx::schema {

// Long attacker-controlled values must be refused (or accepted) without the regex engine
// exhausting the stack.
TEST(ValidateLongValues, AreCheckedWithoutRecursionLimits) {
  Schema params = object({
      {"password", string()},
      {"realm", std_opt::realm().opt()},
      {"max_workers", integer().opt()},
      {"keys", string().pat("[0-9a-zA-Z!=]{0,4096}").opt()},
  });
  Json ok = {{"password", std::string(200000, '1')}};
  EXPECT_NO_THROW(validate_params(params, ok));
  EXPECT_TRUE(ok["password"].is_string());

  for (auto [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"realm", std::string(200000, 'a')},
           {"max_workers", std::string(100000, '1')},
           {"keys", std::string(100000, 'a')}}) {
    Json p = {{"password", "x"}, {name, value}};
    try {
      validate_params(params, p);
      ADD_FAILURE() << name << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), 400);
      EXPECT_TRUE(e.params().count(name)) << name;
    }
  }
}

}  // namespace pvx::schema
