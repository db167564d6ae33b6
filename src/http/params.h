#pragma once
// Request parameters from query strings and bodies, merged as PVE merges them.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pvx::http {

// "a=1&b=x%20y;c=2&c=3": repeated keys become arrays, "+" is a space, ";" also separates pairs.
// "_dc" (cache buster) is dropped.
nlohmann::json parse_query(std::string_view query);

// Parameters of a request body by content type: form-urlencoded (also a body without a
// Content-Type), application/json (an object), multipart/form-data (fields as strings; a file
// part's content as a string under its field name, with "<field>.filename" beside it).
// Throws pvx::Error 415-class errors as PVE does: other types give 506, a bad JSON body 400.
nlohmann::json parse_body(std::string_view content_type, std::string_view body);

}  // namespace pvx::http
