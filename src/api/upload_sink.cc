#include "api/upload_sink.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "base/error.h"
#include "base/strings.h"
#include "http/multipart_stream.h"

namespace pvx::api {
namespace {

constexpr std::size_t kMaxFieldSize = 64 * 1024;
constexpr std::size_t kMaxFields = 64;

const EVP_MD* digest_by_name(const std::string& name) {
  if (name == "md5") return EVP_md5();
  if (name == "sha1") return EVP_sha1();
  if (name == "sha224") return EVP_sha224();
  if (name == "sha256") return EVP_sha256();
  if (name == "sha384") return EVP_sha384();
  if (name == "sha512") return EVP_sha512();
  return nullptr;
}

std::string hex(const unsigned char* p, unsigned n) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out.push_back(d[p[i] >> 4]);
    out.push_back(d[p[i] & 15]);
  }
  return out;
}

struct Md {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Md() { EVP_MD_CTX_free(ctx); }
};

class UploadSink final : public http::BodySink {
 public:
  UploadSink(std::filesystem::path dir, const std::string& content_type)
      : dir_(std::move(dir)),
        parser_(content_type, {[this](const http::PartHead& h) { begin(h); },
                               [this](std::string_view d) { data(d); }, [this] { end(); }}) {}

  ~UploadSink() override {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty() && !handed_over_) ::unlink(path_.c_str());
  }

  void write(std::string_view chunk) override { parser_.feed(chunk); }

  void finish(http::Request& request) override {
    parser_.finish();
    if (path_.empty()) throw Error::param("filename", "no file was uploaded");
    if (::fsync(fd_) != 0) fail_io("fsync");
    ::close(fd_);
    fd_ = -1;
    auto spooled = std::make_shared<http::SpooledFile>();
    spooled->path = path_;
    spooled->size = size_;
    if (md_) {
      unsigned char out[EVP_MAX_MD_SIZE];
      unsigned n = 0;
      EVP_DigestFinal_ex(md_->ctx, out, &n);
      spooled->digest_algorithm = md_algorithm_;
      spooled->digest_hex = hex(out, n);
    }
    handed_over_ = true;
    request.spooled = std::move(spooled);
    std::string body;
    for (const auto& [k, v] : fields_) body += (body.empty() ? "" : "&") + url_encode(k) + "=" + url_encode(v);
    request.body = std::move(body);
    bool replaced = false;
    for (auto& [name, value] : request.headers) {
      if (name == "content-type") {
        value = "application/x-www-form-urlencoded";
        replaced = true;
      }
    }
    if (!replaced) request.headers.emplace_back("content-type", "application/x-www-form-urlencoded");
  }

 private:
  void begin(const http::PartHead& h) {
    current_ = h;
    in_file_ = false;
    if (h.is_file) {
      if (!path_.empty()) throw Error("only one file may be uploaded at a time", 400);
      fields_[h.name] = h.filename;
      open_temp();
      in_file_ = true;
      if (auto it = fields_.find("checksum-algorithm"); it != fields_.end()) {
        if (const EVP_MD* md = digest_by_name(it->second)) {
          md_ = std::make_unique<Md>();
          EVP_DigestInit_ex(md_->ctx, md, nullptr);
          md_algorithm_ = it->second;
        }
      }
      return;
    }
    if (fields_.size() >= kMaxFields) throw Error("too many form fields", 400);
    fields_[h.name].clear();
  }

  void data(std::string_view d) {
    if (in_file_) {
      update_digest(d);
      while (!d.empty()) {
        ssize_t w = ::write(fd_, d.data(), d.size());
        if (w < 0) {
          if (errno == EINTR) continue;
          fail_io("write");
        }
        d.remove_prefix(static_cast<std::size_t>(w));
        size_ += static_cast<std::uint64_t>(w);
      }
      return;
    }
    auto& f = fields_[current_.name];
    if (f.size() + d.size() > kMaxFieldSize) throw Error::param(current_.name, "value too long");
    f.append(d);
  }

  void update_digest(std::string_view d) {
    if (md_) EVP_DigestUpdate(md_->ctx, d.data(), d.size());
  }

  void end() { in_file_ = false; }

  void open_temp() {
    path_ = (dir_ / (".pvx-upload-" + random_hex())).string();
    fd_ = ::open(path_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      std::string why = std::strerror(errno);
      path_.clear();
      throw Error("unable to create a temporary file in '" + dir_.string() + "': " + why, 500);
    }
  }

  [[noreturn]] void fail_io(const char* what) {
    int e = errno;
    // Disk full: the request fails and the partial file is removed by the destructor.
    throw Error(std::string("upload failed: ") + what + ": " + std::strerror(e), e == ENOSPC || e == EDQUOT ? 507 : 500);
  }

  std::filesystem::path dir_;
  http::MultipartStream parser_;
  http::PartHead current_;
  std::map<std::string, std::string> fields_;
  bool in_file_ = false;
  std::string path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  bool handed_over_ = false;
  std::unique_ptr<Md> md_;
  std::string md_algorithm_;
};

}  // namespace

std::unique_ptr<http::BodySink> make_upload_sink(std::filesystem::path spool_dir, std::string content_type) {
  return std::make_unique<UploadSink>(std::move(spool_dir), content_type);
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  return hex(b.data(), static_cast<unsigned>(b.size()));
}

std::string file_digest(const std::string& path, const std::string& algorithm) {
  const EVP_MD* md = digest_by_name(algorithm);
  if (!md) throw Error::param("checksum-algorithm", "unknown algorithm '" + algorithm + "'");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("unable to open '" + path + "': " + std::strerror(errno));
  Md ctx;
  EVP_DigestInit_ex(ctx.ctx, md, nullptr);
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t r = ::read(fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    EVP_DigestUpdate(ctx.ctx, buf.data(), static_cast<std::size_t>(r));
  }
  ::close(fd);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx.ctx, out, &n);
  return hex(out, n);
}

}  // namespace pvx::api
