#pragma once
// The body sink of upload methods: parses multipart/form-data as it streams in, writes the
// file part straight into a hidden temporary file in the target storage (same filesystem, so the
// final move is a rename), hashes it on the way when the client named the checksum algorithm
// first, and keeps the small text fields for the handler. A failed or cut-short upload leaves
// nothing behind: the temporary file goes with the sink or the request.
#include <filesystem>
#include <memory>
#include <string>

#include "http/message.h"

namespace pvx::api {

std::unique_ptr<http::BodySink> make_upload_sink(std::filesystem::path spool_dir, std::string content_type);

// `bytes` random bytes in lower-case hex: the unique part of temporary file names.
std::string random_hex(std::size_t bytes = 8);

// "md5" ... "sha512" -> hex digest of a file (when it was not computed while streaming).
std::string file_digest(const std::string& path, const std::string& algorithm);

}  // namespace pvx::api
