#pragma once
// The path tree of all declared methods. Built once at start-up from the explicit list in
// method_table.cc, read-only afterwards.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api_method.h"

namespace pvx::api {

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Throws std::logic_error on a duplicate (verb, path) or a path parameter not declared.
  void add(ApiMethod method);

  struct Match {
    const ApiMethod* method = nullptr;
    std::map<std::string, std::string> path_params;
  };
  // Finds the method for an already URL-decoded path below /api2/json ("/nodes/pve1/tasks").
  // nullopt when nothing is declared there for this verb.
  std::optional<Match> find(Verb verb, std::string_view path) const;

  // Subdirectory names below a declared path template (for directory-index handlers and pvesh ls).
  std::vector<std::string> children(std::string_view path_template) const;
  // Whether any method exists at this concrete path (any verb); for 501 vs. directory answers.
  std::vector<Verb> verbs_at(std::string_view path) const;

  // Every method, sorted by path then verb.
  std::vector<const ApiMethod*> all() const;

  struct Node;  // defined in router.cc

 private:
  std::unique_ptr<Node> root_;
  std::vector<std::unique_ptr<ApiMethod>> methods_;
};

}  // namespace pvx::api
