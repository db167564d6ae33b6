#include "http/multipart_stream.h"

#include "base/error.h"
#include "base/strings.h"

namespace pvx::http {
namespace {

constexpr std::size_t kMaxPartHeaders = 16 * 1024;

// Value of `key` in a header like `form-data; name="file"; filename="a b.iso"`.
std::string header_param(std::string_view header, std::string_view key, bool* present = nullptr) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    auto semi = header.find(';', pos);
    // Quoted values may contain ';': find the end of a quoted string first.
    auto eq = header.find('=', pos);
    if (eq != std::string_view::npos && (semi == std::string_view::npos || eq < semi)) {
      std::string name = to_lower(trim(header.substr(pos, eq - pos)));
      std::size_t v = eq + 1;
      while (v < header.size() && header[v] == ' ') ++v;
      std::string value;
      std::size_t next;
      if (v < header.size() && header[v] == '"') {
        std::size_t i = v + 1;
        for (; i < header.size() && header[i] != '"'; ++i) {
          if (header[i] == '\\' && i + 1 < header.size()) ++i;
          value.push_back(header[i]);
        }
        next = header.find(';', i);
      } else {
        next = header.find(';', v);
        value = std::string(trim(header.substr(v, next == std::string_view::npos ? std::string_view::npos : next - v)));
      }
      if (name == key) {
        if (present) *present = true;
        return value;
      }
      if (next == std::string_view::npos) break;
      pos = next + 1;
      continue;
    }
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return {};
}

}  // namespace

MultipartStream::MultipartStream(std::string_view content_type, Callbacks callbacks) : cb_(std::move(callbacks)) {
  if (!to_lower(content_type).starts_with("multipart/form-data")) {
    throw Error("expected a multipart/form-data body", 400);
  }
  std::string boundary = header_param(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) throw Error("multipart body without a valid boundary", 400);
  delimiter_ = "\r\n--" + boundary;
  // The first boundary may start the body without a preceding CRLF: pretend there was one.
  buf_ = "\r\n";
}

void MultipartStream::parse_headers(std::string_view block) {
  head_ = PartHead{};
  for (const auto& line : split_any(block, "\r\n")) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = to_lower(trim(std::string_view(line).substr(0, colon)));
    std::string_view value = trim(std::string_view(line).substr(colon + 1));
    if (name == "content-disposition") {
      head_.name = header_param(value, "name");
      head_.filename = header_param(value, "filename", &head_.is_file);
    } else if (name == "content-type") {
      head_.content_type = std::string(value);
    }
  }
  if (head_.name.empty()) throw Error("multipart part without a name", 400);
}

void MultipartStream::feed(std::string_view bytes) {
  if (state_ == State::Done) return;  // epilogue is ignored
  buf_.append(bytes);
  std::size_t pos = 0;
  for (;;) {
    if (state_ == State::Preamble) {
      auto at = buf_.find(delimiter_, pos);
      if (at == std::string::npos) {
        // Keep only what could still be the start of the delimiter.
        if (buf_.size() - pos > delimiter_.size()) pos = buf_.size() - delimiter_.size();
        break;
      }
      pos = at + delimiter_.size();
      state_ = State::AfterBoundary;
    } else if (state_ == State::AfterBoundary) {
      if (buf_.size() - pos < 2) break;
      if (buf_.compare(pos, 2, "--") == 0) {
        state_ = State::Done;
        buf_.clear();
        return;
      }
      // Transport padding (spaces/tabs) may follow the boundary before its CRLF.
      auto eol = buf_.find("\r\n", pos);
      if (eol == std::string::npos) {
        if (buf_.size() - pos > 256) throw Error("malformed multipart boundary line", 400);
        break;
      }
      pos = eol + 2;
      state_ = State::Headers;
      header_bytes_ = 0;
    } else if (state_ == State::Headers) {
      auto end = buf_.find("\r\n\r\n", pos);
      std::size_t blank_first = buf_.compare(pos, 2, "\r\n") == 0 ? pos : std::string::npos;  // no headers at all
      if (blank_first != std::string::npos && (end == std::string::npos || blank_first < end)) {
        throw Error("multipart part without a name", 400);
      }
      if (end == std::string::npos) {
        if (buf_.size() - pos > kMaxPartHeaders) throw Error("multipart part headers too large", 400);
        break;
      }
      parse_headers(std::string_view(buf_).substr(pos, end - pos));
      pos = end + 4;
      if (cb_.begin) cb_.begin(head_);
      state_ = State::Data;
    } else if (state_ == State::Data) {
      auto at = buf_.find(delimiter_, pos);
      if (at == std::string::npos) {
        // Everything except a possible partial delimiter at the end is data.
        std::size_t keep = std::min(buf_.size() - pos, delimiter_.size() - 1);
        std::size_t emit = buf_.size() - pos - keep;
        if (emit && cb_.data) cb_.data(std::string_view(buf_).substr(pos, emit));
        pos += emit;
        break;
      }
      if (at > pos && cb_.data) cb_.data(std::string_view(buf_).substr(pos, at - pos));
      if (cb_.end) cb_.end();
      pos = at + delimiter_.size();
      state_ = State::AfterBoundary;
    } else {
      break;
    }
  }
  buf_.erase(0, pos);
}

void MultipartStream::finish() const {
  if (state_ != State::Done) throw Error("incomplete multipart body (the upload was cut short)", 400);
}

}  // namespace pvx::http
