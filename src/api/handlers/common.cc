#include "api/handlers/common.h"

#ifndef PVX_REPOID
#define PVX_REPOID "00000000"
#endif

namespace pvx::api::handlers {

Json dir_index(const std::vector<std::string>& names, const std::string& key) {
  Json out = Json::array();
  for (const auto& n : names) out.push_back({{key, n}});
  return out;
}

schema::Schema dir_index_returns(const std::string& key) {
  return schema::array(schema::object({{key, schema::string()}})).link("{" + key + "}");
}

const char* repoid() { return PVX_REPOID; }

}  // namespace pvx::api::handlers
