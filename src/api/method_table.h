#pragma once
// Builds the router with every declared API method, in one explicit list.
namespace pvx::api {
class Router;
void register_all_methods(Router& router);
}  // namespace pvx::api
