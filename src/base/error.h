#pragma once
// The one error type of pvx. It carries what the API answers with: an HTTP status, a message
// (one line, it becomes the reason phrase) and, for parameter errors, a message per parameter.
// It is caught in exactly two places: the API dispatch and the task runner.
#include <map>
#include <stdexcept>
#include <string>

namespace pvx {

class Error : public std::runtime_error {
 public:
  using ParamErrors = std::map<std::string, std::string>;

  explicit Error(std::string message, int status = 500)
      : std::runtime_error(std::move(message)), status_(status) {}
  Error(int status, std::string message, ParamErrors params)
      : std::runtime_error(std::move(message)), status_(status), params_(std::move(params)) {}

  int status() const noexcept { return status_; }
  const ParamErrors& params() const noexcept { return params_; }

  // 400 "Parameter verification failed." with one message for one parameter.
  static Error param(const std::string& name, std::string message) {
    return Error(400, "Parameter verification failed.", {{name, std::move(message)}});
  }
  static Error params(ParamErrors errors) {
    return Error(400, "Parameter verification failed.", std::move(errors));
  }

 private:
  int status_;
  ParamErrors params_;
};

}  // namespace pvx
