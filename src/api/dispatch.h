#pragma once
// The one request pipeline of the API: route -> parameters -> authenticate -> validate ->
// permission -> handler -> {"data": ...} envelope. Errors thrown anywhere below become PVE's
// error answers here (one of the two places pvx::Error is caught; the task runner is the other).
#include <memory>

#include "api/services.h"
#include "http/message.h"

namespace pvx::api {

class Dispatcher {
 public:
  // `worker_threads` run the methods declared `blocking` (logins with PAM, slow I/O).
  Dispatcher(Services& services, unsigned worker_threads = 4);
  ~Dispatcher();

  // Thread-safe. Calls `respond` exactly once, on this thread or a worker.
  void handle(http::Request request, http::Respond respond);

  // For the server's BodySinkFactory: a sink for upload methods (after authentication, CSRF and
  // permission checks, so a refused upload is refused before its body is read), else nullptr.
  std::unique_ptr<http::BodySink> body_sink_for(const http::Request& head);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pvx::api
