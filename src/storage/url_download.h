#pragma once
// Fetches an http(s) URL into a file descriptor with libcurl: only http and https (also across
// redirects), certificate verification on unless turned off, a size cap, a stall timeout, and
// progress reports that may cancel. Blocking: run it in a task.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace pvx::storage {

struct DownloadOptions {
  bool verify_certificates = true;
  std::int64_t max_size = 0;  // bytes; 0 = no cap
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds stall_timeout{120};  // abort when nothing arrives for this long
  std::string ca_file;                      // extra trust anchor (tests use their own CA)
  // Called now and then with bytes done and the total (0 when unknown); false cancels.
  std::function<bool(std::int64_t done, std::int64_t total)> progress;
};

struct DownloadResult {
  std::int64_t size = 0;
  long http_status = 0;
  std::string effective_url;
};

// Throws Error 400 for URLs that are not http(s), Error 500 with curl's message otherwise
// ("Could not resolve host", "SSL certificate problem ...", "HTTP status 404", "exceeds the size
// limit").
DownloadResult download_url(const std::string& url, int out_fd, const DownloadOptions& options);

}  // namespace pvx::storage
