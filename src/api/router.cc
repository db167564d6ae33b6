#include "api/router.h"

#include <algorithm>
#include <stdexcept>

#include "base/strings.h"

namespace pvx::api {

// One path segment of the tree: literal children by name, at most one "{param}" child.
struct Router::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literal;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::map<Verb, const ApiMethod*> methods;
};

const char* verb_name(Verb v) {
  switch (v) {
    case Verb::Get: return "GET";
    case Verb::Post: return "POST";
    case Verb::Put: return "PUT";
    case Verb::Delete: return "DELETE";
  }
  return "GET";
}

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;

void Router::add(ApiMethod method) {
  Node* node = root_.get();
  for (const auto& seg : split_any(method.path, "/")) {
    if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
      std::string name = seg.substr(1, seg.size() - 2);
      if (!node->param) {
        node->param = std::make_unique<Node>();
        node->param_name = name;
      } else if (node->param_name != name) {
        throw std::logic_error("path parameter {" + name + "} conflicts with {" + node->param_name + "} in " +
                               method.path);
      }
      if (!method.parameters || !method.parameters->property(name)) {
        throw std::logic_error("path parameter {" + name + "} not declared in " + method.path);
      }
      node = node->param.get();
    } else {
      auto& child = node->literal[seg];
      if (!child) child = std::make_unique<Node>();
      node = child.get();
    }
  }
  if (node->methods.count(method.verb)) {
    throw std::logic_error(std::string("duplicate method ") + verb_name(method.verb) + " " + method.path);
  }
  methods_.push_back(std::make_unique<ApiMethod>(std::move(method)));
  node->methods[methods_.back()->verb] = methods_.back().get();
}

namespace {

const Router::Node* walk(const Router::Node* node, std::string_view path,
                         std::map<std::string, std::string>* params) {
  auto segs = split_any(path, "/");
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const auto& seg = segs[i];
    if (auto it = node->literal.find(seg); it != node->literal.end()) {
      node = it->second.get();
    } else if (node->param) {
      std::string value = seg;
      // Volume ids contain slashes ("local:iso/x.iso") and clients send them unescaped in the
      // path: a trailing {volume} takes the rest of the path, as PVE's router lets it.
      if (node->param_name == "volume" && node->param->literal.empty() && !node->param->param) {
        for (++i; i < segs.size(); ++i) value += "/" + segs[i];
      }
      if (params) (*params)[node->param_name] = value;
      node = node->param.get();
    } else {
      return nullptr;
    }
  }
  return node;
}

}  // namespace

std::optional<Router::Match> Router::find(Verb verb, std::string_view path) const {
  Match m;
  const Node* node = walk(root_.get(), path, &m.path_params);
  if (!node) return std::nullopt;
  auto it = node->methods.find(verb);
  if (it == node->methods.end()) return std::nullopt;
  m.method = it->second;
  return m;
}

std::vector<std::string> Router::children(std::string_view path_template) const {
  const Node* node = root_.get();
  for (const auto& seg : split_any(path_template, "/")) {
    if (auto it = node->literal.find(seg); it != node->literal.end()) {
      node = it->second.get();
    } else if (node->param && seg.size() > 2 && seg.front() == '{') {
      node = node->param.get();
    } else {
      return {};
    }
  }
  std::vector<std::string> out;
  for (const auto& [name, child] : node->literal) out.push_back(name);
  return out;
}

std::vector<Verb> Router::verbs_at(std::string_view path) const {
  const Node* node = walk(root_.get(), path, nullptr);
  std::vector<Verb> out;
  if (node) {
    for (const auto& [verb, m] : node->methods) out.push_back(verb);
  }
  return out;
}

std::vector<const ApiMethod*> Router::all() const {
  std::vector<const ApiMethod*> out;
  for (const auto& m : methods_) out.push_back(m.get());
  std::sort(out.begin(), out.end(), [](const ApiMethod* a, const ApiMethod* b) {
    return a->path != b->path ? a->path < b->path : a->verb < b->verb;
  });
  return out;
}

}  // namespace pvx::api
