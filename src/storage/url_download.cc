#include "storage/url_download.h"

#include <curl/curl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "base/error.h"

namespace pvx::storage {
namespace {

struct Transfer {
  int fd;
  const DownloadOptions* options;
  std::int64_t written = 0;
  bool too_large = false;
  int write_errno = 0;
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t len = size * n;
  if (t->options->max_size > 0 && t->written + static_cast<std::int64_t>(len) > t->options->max_size) {
    t->too_large = true;
    return 0;  // makes curl fail with CURLE_WRITE_ERROR
  }
  std::size_t done = 0;
  while (done < len) {
    ssize_t w = ::write(t->fd, data + done, len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      t->write_errno = errno;
      return 0;
    }
    done += static_cast<std::size_t>(w);
  }
  t->written += static_cast<std::int64_t>(len);
  return len;
}

int on_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (!t->options->progress) return 0;
  return t->options->progress(now, total) ? 0 : 1;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

DownloadResult download_url(const std::string& url, int out_fd, const DownloadOptions& options) {
  if (!(url.starts_with("http://") || url.starts_with("https://"))) {
    throw Error::param("url", "only http and https URLs can be downloaded");
  }
  global_init();
  CURL* curl = curl_easy_init();
  if (!curl) throw Error("unable to initialise libcurl");
  Transfer t{out_fd, &options};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "pvx/0.1");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options.verify_certificates ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options.verify_certificates ? 2L : 0L);
  if (!options.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_file.c_str());
  if (options.max_size > 0) curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_size));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);

  CURLcode rc = curl_easy_perform(curl);
  DownloadResult r;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.http_status);
  char* eff = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &eff);
  if (eff) r.effective_url = eff;
  r.size = t.written;
  curl_easy_cleanup(curl);
  if (rc == CURLE_OK) return r;
  if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    throw Error("download of '" + url + "' exceeds the size limit of " + std::to_string(options.max_size) + " bytes");
  }
  if (t.write_errno) throw Error(std::string("writing the download failed: ") + std::strerror(t.write_errno));
  if (rc == CURLE_ABORTED_BY_CALLBACK) throw Error("download of '" + url + "' was cancelled");
  std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  throw Error("download of '" + url + "' failed: " + why);
}

}  // namespace pvx::storage
