#pragma once
// How values read as text, the way PVE's Perl stringifies them: messages, format checks and
// property strings all need the same spelling (1/0 for booleans, 100 rather than 100.0).
#include <string>

#include "schema/schema.h"

namespace pvx::schema {

// 100 -> "100", 0.5 -> "0.5".
std::string number_text(double d);
// Strings as they are, booleans as "1"/"0", numbers as number_text, null as "".
std::string value_text(const Json& v);

}  // namespace pvx::schema
