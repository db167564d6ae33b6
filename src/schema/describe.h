#pragma once
// Derived descriptions of schemas: the type text shown by CLI usage and docs, and the JSON forms
// used by the schema dump (PVE apidoc shape) and by the OpenAPI document.
#include <string>

#include "schema/schema.h"

namespace pvx::schema {

// "<integer> (100 - 999999999)", "<string>", "<boolean>", "<a | b | c>", property strings as
// "[model=]<enum> [,bridge=<bridge>]...".
std::string type_text(const Schema& s);
// The same, as config-file docs print it: property-string enums are always listed in full.
std::string config_type_text(const Schema& s);

// The schema in PVE's apidoc JSON form: {"type": "integer", "optional": 1, "minimum": 100, ...};
// property-string formats become an object of their keys under "format".
// Only an explicitly declared typetext appears; use this form for return schemas.
Json to_pve_json(const Schema& s);
// One method parameter as the API dump shows it: to_pve_json plus the derived "typetext", which
// PVE adds to every parameter that has neither an enum nor a pattern.
Json to_pve_param_json(const Schema& s);
// The parameters of a method ({"node": {...}, "vmid": {...}}), each as to_pve_param_json.
Json to_pve_parameters(const Schema& object_schema);

// A JSON Schema (2020-12, as OpenAPI 3.1 uses) of the value.
Json to_json_schema(const Schema& s);

}  // namespace pvx::schema
