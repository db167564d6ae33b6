#pragma once
// Validation of request parameters and of values against declared schemas.
#include <string>

#include "base/error.h"
#include "schema/schema.h"

namespace pvx::schema {

// Validates request parameters against an Object schema and converts them in place to their
// declared JSON types: parameters arrive as strings from query strings and forms ("100", "1"),
// or typed from JSON bodies. Booleans accept 0/1 and JSON true/false, and also
// true/false/yes/no/on/off in any case. An Array-typed parameter accepts one value or a list.
// "-list" formats keep their string form (a list of values is joined with commas). After the call
// booleans are JSON true/false, integers are JSON integers, numbers JSON numbers; property-string
// parameters stay strings (their keys are checked). JSON nulls are dropped as absent. Unknown parameters are refused unless the schema allows
// additional properties. On any failure throws Error 400 "Parameter verification failed." with
// one message per bad parameter, e.g. {"vmid": "value must have a minimum value of 100"}.
void validate_params(const Schema& object_schema, Json& params);

// Checks a value against a schema without conversion (for response validation in tests and for
// config values). Messages are collected into `errors` keyed by `path` ("data[0].vmid").
void check_value(const Schema& schema, const Json& value, const std::string& path, Error::ParamErrors& errors);

// Parses a property string against an Object schema of its keys ("virtio=AA:..,bridge=vmbr0").
// Returns an object of typed values. Throws Error 400 naming `param` on bad input.
Json parse_property_string(const Schema& keys, std::string_view text, const std::string& param);
// Prints in PVE's canonical order: default key first without "key=" (joined with its key alias:
// "virtio=MAC"), then required keys sorted, then the remaining keys sorted; booleans as 0/1,
// disk-size keys in the largest exact unit. Throws Error 400 when `values` break the schema.
std::string print_property_string(const Schema& keys, const Json& values);

}  // namespace pvx::schema
