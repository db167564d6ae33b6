#pragma once
// Config values as text <-> typed JSON, checked against their declared schema. Shared by the
// section-config engine and the "key: value" files so that every file reads booleans, numbers
// and strings the same way PVE does.
#include <optional>
#include <string>
#include <string_view>

#include "schema/schema.h"

namespace pvx::config {

// Converts `text` to the schema's type (booleans from 1/0, yes/no, on/off, true/false -> 1/0;
// integers and numbers as JSON numbers; everything else stays a string) and checks it.
// Returns the error message on failure, e.g. "type check ('integer') failed - got 'x'".
std::optional<std::string> parse_value(const schema::Schema& s, std::string_view text, schema::Json& out);

// Checks an already typed value (booleans may be JSON booleans or 0/1). Used by strict API
// validation; also refuses strings with line breaks, which no config line can hold.
std::optional<std::string> check_typed_value(const schema::Schema& s, const schema::Json& value);

// The config text of a typed value: booleans 0/1, integral numbers without a fraction.
std::string print_value(const schema::Schema& s, const schema::Json& value);

// PVE's boolean words, case-insensitive; nullopt for anything else.
std::optional<bool> parse_boolean(std::string_view text);

}  // namespace pvx::config
