#pragma once
// Method declarations taken from PVE's own (the reference API dump, copied as data by
// scripts/gen-vm-config-schema.py), for areas whose every method pvx serves with PVE's exact
// shapes: the handler, the CLI aliases and anything pvx adds are given here, the rest (name,
// description, parameters, returns, permissions, proxyto, allowtoken) comes from the data.
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_method.h"

namespace pvx::api {

// `data`: {"methods": {"<VERB> <path>": {name, description, parameters, returns, permissions,
// protected, proxyto, allowtoken}}, "indexed": {"mp": 256, ...}}. Throws std::logic_error for a
// key that is not in it (a programming error, caught by the method table test).
ApiMethod reference_method(const nlohmann::json& data, const std::string& key, Handler handler,
                           std::vector<CliAlias> cli = {});

// Declarations parsed from embedded JSON for the time one area registers its methods: the method
// table keeps what it needs, the parsed document is dropped afterwards.
class ReferenceDeclarations {
 public:
  explicit ReferenceDeclarations(std::string_view json);
  ApiMethod operator()(const std::string& key, Handler handler, std::vector<CliAlias> cli = {}) const {
    return reference_method(data_, key, std::move(handler), std::move(cli));
  }

 private:
  nlohmann::json data_;
};

// PVE's JSON permission form ({"check": [...]} / {"user": "all"}) as a Permission.
Permission permission_from_json(const nlohmann::json& j);

}  // namespace pvx::api
