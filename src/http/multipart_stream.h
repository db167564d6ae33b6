#pragma once
// An incremental multipart/form-data parser: the body is fed in pieces of any size and part
// data comes out as it arrives, so a 4 GiB upload never sits in memory. Only what
// multipart/form-data uses is supported (Content-Disposition name/filename, Content-Type).
#include <functional>
#include <string>
#include <string_view>

namespace pvx::http {

struct PartHead {
  std::string name;          // form field name
  std::string filename;      // set for file parts (may be empty for a file input with no file)
  bool is_file = false;      // a filename attribute was present
  std::string content_type;
};

class MultipartStream {
 public:
  struct Callbacks {
    std::function<void(const PartHead&)> begin;
    std::function<void(std::string_view)> data;
    std::function<void()> end;
  };
  // `content_type` is the request's header; throws Error 400 when it has no boundary.
  MultipartStream(std::string_view content_type, Callbacks callbacks);

  void feed(std::string_view bytes);
  // The body ended: throws Error 400 unless the closing boundary was seen.
  void finish() const;

 private:
  enum class State { Preamble, AfterBoundary, Headers, Data, Done };
  void parse_headers(std::string_view block);

  Callbacks cb_;
  std::string delimiter_;  // "\r\n--" + boundary
  std::string buf_;
  State state_ = State::Preamble;
  PartHead head_;
  std::size_t header_bytes_ = 0;
};

}  // namespace pvx::http
