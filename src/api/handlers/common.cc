#include "api/handlers/common.h"

#include "metrics/host_stats.h"

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

Json local_node_entry(RequestContext& ctx, bool with_usage) {
  const auto& node = ctx.services().node;
  Json e = {{"node", node}, {"status", "online"}, {"id", "node/" + node}, {"type", "node"}, {"level", ""}};
  if (with_usage) {
    auto st = metrics::read_host_status("/");
    e["cpu"] = st.cpu;
    e["maxcpu"] = st.cpuinfo.cpus;
    e["mem"] = st.memory.used;
    e["maxmem"] = st.memory.total;
    e["disk"] = st.rootfs_used;
    e["maxdisk"] = st.rootfs_total;
    e["uptime"] = st.uptime;
  }
  return e;
}

std::string param_text(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "1" : "0";
  return v.dump();
}

}  // namespace pvx::api::handlers
