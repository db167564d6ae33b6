// Files into a storage: POST .../upload (multipart, streamed to disk by the server) and
// POST .../download-url (fetched in a task). Both end the same way: checksum verified, then
// renamed into the content directory, so a half-written file is never visible under its name.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "api/handlers/common.h"
#include "api/handlers/register.h"
#include "api/services.h"
#include "api/upload_sink.h"
#include "base/process.h"
#include "base/strings.h"
#include "storage/file_formats.h"
#include "storage/storage_service.h"
#include "storage/url_download.h"
#include "tasks/task_runner.h"

namespace fs = std::filesystem;

namespace pvx::api::handlers {
namespace {

using namespace schema;

// PVE's normalisation: anything but letters, digits, '_', '.', '-' becomes '_'.
std::string normalize_filename(std::string name) {
  for (auto& c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) c = '_';
  }
  return name;
}

// The directory a file of `content` goes to, after checking the storage takes such files.
fs::path target_dir(storage::StorageService& svc, const storage::StorageDef& def, const std::string& content) {
  if (!def.content().count(content)) {
    throw Error::param("content", "storage '" + def.id + "' does not support '" + content + "' content");
  }
  auto dir = svc.plugin(def).content_dir(def, content);
  if (!dir) throw Error("storage '" + def.id + "' cannot hold uploaded files", 400);
  return *dir;
}

std::string checked_name(const std::string& content, const std::string& raw) {
  std::string name = normalize_filename(raw);
  if (name.empty() || name.starts_with(".")) throw Error::param("filename", "invalid file name '" + raw + "'");
  if (!storage::classify_file(content, name)) {
    const char* hint = content == "iso" ? "'.iso' or '.img'"
                       : content == "vztmpl" ? "'.tar.gz', '.tar.xz', '.tar.zst' or '.tar.bz2'"
                                             : "'.ova', '.ovf', '.qcow2', '.raw' or '.vmdk'";
    throw Error::param("filename", "wrong file extension for " + content + " content - expected " + hint);
  }
  return name;
}

void verify_checksum(tasks::TaskContext& task, const std::string& file, const std::string& algorithm,
                     const std::string& expected, const std::string& precomputed) {
  if (algorithm.empty()) return;
  task.log("validating checksum (" + algorithm + ")");
  std::string actual = precomputed.empty() ? file_digest(file, algorithm) : precomputed;
  if (to_lower(actual) != to_lower(trim(expected))) {
    throw Error("checksum mismatch: got '" + actual + "' != expected '" + expected + "'");
  }
  task.log("checksum verified");
}

// Renames `tmp` to `target` (same filesystem), else copies and removes; fsyncs the directory.
void move_into_place(const fs::path& tmp, const fs::path& target) {
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec == std::errc::cross_device_link) {
    fs::path part = target.string() + ".part";
    run_command({"cp", "--", tmp.string(), part.string()}, {.timeout = std::chrono::hours(12)});
    fs::rename(part, target, ec);
    if (!ec) fs::remove(tmp, ec);
  }
  if (ec) throw Error("unable to move the file into place: " + ec.message());
  int dfd = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

Json upload(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  const std::string content = ctx.str("content");
  fs::path dir = target_dir(svc, def, content);
  std::string name = checked_name(content, ctx.str("filename"));
  fs::path target = dir / name;
  std::string spooled = ctx.str("tmpfilename");
  std::error_code ec;
  if (!fs::is_regular_file(spooled, ec)) throw Error::param("tmpfilename", "no such file '" + spooled + "'");
  if (fs::exists(target, ec)) throw Error::param("filename", "file '" + name + "' already exists on storage '" + def.id + "'");
  fs::create_directories(dir, ec);

  // The request owns the spooled file until it returns: take it over under a name of our own.
  fs::path work = dir / (".pvx-upload-" + random_hex() + ".task");
  move_into_place(spooled, work);

  auto algorithm = ctx.opt_str("checksum-algorithm").value_or("");
  auto expected = ctx.opt_str("checksum").value_or("");
  // Computed while the body streamed in, when the client named the algorithm before the file.
  std::string precomputed;
  if (const auto* sp = ctx.spooled(); sp && sp->path == spooled && sp->digest_algorithm == algorithm) {
    precomputed = sp->digest_hex;
  }
  auto upid = ctx.services().tasks->spawn("imgcopy", "", ctx.who().full(),
                                          [work, target, algorithm, expected, precomputed](tasks::TaskContext& task) {
    try {
      task.log("starting file import from: " + work.string());
      verify_checksum(task, work.string(), algorithm, expected, precomputed);
      task.log("target file: " + target.string());
      if (fs::exists(target)) throw Error("file '" + target.string() + "' already exists");
      move_into_place(work, target);
      task.log("file size is: " + std::to_string(fs::file_size(target)));
      task.log("TASK OK");
    } catch (...) {
      std::error_code ignore;
      fs::remove(work, ignore);
      throw;
    }
  });
  return upid.str();
}

}  // namespace

std::string spawn_url_download(RequestContext& ctx, const std::string& storage_id, const fs::path& dir,
                               const fs::path& target, const std::string& url, storage::DownloadOptions opts,
                               const std::string& algorithm, const std::string& expected,
                               const std::string& compression) {
  auto upid = ctx.services().tasks->spawn("download", storage_id, ctx.who().full(),
      [dir, target, url, opts, algorithm, expected, compression](tasks::TaskContext& task) mutable {
    fs::create_directories(dir);
    fs::path work = dir / (".pvx-download-" + random_hex() + ".task");
    auto cleanup = [&] {
      std::error_code ignore;
      fs::remove(work, ignore);
      fs::remove(work.string() + ".raw", ignore);
    };
    try {
      task.log("downloading " + url + " to " + target.string());
      int fd = ::open(work.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
      if (fd < 0) throw Error("unable to create '" + work.string() + "': " + std::strerror(errno));
      std::int64_t last_report = 0;
      opts.progress = [&](std::int64_t done, std::int64_t total) {
        if (done - last_report >= (64 << 20) || (total > 0 && done == total && done != last_report)) {
          last_report = done;
          task.log("downloaded " + std::to_string(done) + (total > 0 ? " of " + std::to_string(total) : "") + " bytes");
        }
        return !task.abort_requested();
      };
      storage::DownloadResult r;
      try {
        r = storage::download_url(url, fd, opts);
        if (::fsync(fd) != 0) throw Error(std::string("fsync failed: ") + std::strerror(errno));
      } catch (...) {
        ::close(fd);
        throw;
      }
      ::close(fd);
      task.log("download finished: " + std::to_string(r.size) + " bytes (HTTP " + std::to_string(r.http_status) + ")");
      verify_checksum(task, work.string(), algorithm, expected, "");
      if (!compression.empty()) {
        static const std::map<std::string, std::vector<std::string>> tools = {
            {"gz", {"gzip", "-dc"}}, {"zst", {"zstd", "-dcq"}}, {"bz2", {"bzip2", "-dc"}}, {"lzo", {"lzop", "-dc"}}};
        auto it = tools.find(compression);
        if (it == tools.end()) throw Error::param("compression", "unknown compression '" + compression + "'");
        task.log("decompressing (" + compression + ")");
        fs::path raw = work.string() + ".raw";
        int in = ::open(work.c_str(), O_RDONLY | O_CLOEXEC);
        int out = ::open(raw.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
        try {
          run_command(it->second, {.timeout = std::chrono::hours(6), .stdin_fd = in, .stdout_fd = out});
        } catch (...) {
          ::close(in);
          ::close(out);
          throw;
        }
        ::fsync(out);
        ::close(in);
        ::close(out);
        fs::rename(raw, work);
      }
      if (fs::exists(target)) throw Error("file '" + target.string() + "' already exists");
      move_into_place(work, target);
      task.log("stored as " + target.string());
    } catch (...) {
      cleanup();
      throw;
    }
  });
  return upid.str();
}

namespace {

Json download(RequestContext& ctx) {
  auto& svc = *ctx.services().storage;
  auto def = svc.get(ctx.str("storage"));
  const std::string content = ctx.str("content");
  svc.activate(def);
  fs::path dir = target_dir(svc, def, content);
  std::string name = checked_name(content, ctx.str("filename"));
  fs::path target = dir / name;
  std::error_code ec;
  if (fs::exists(target, ec)) throw Error::param("filename", "file '" + name + "' already exists on storage '" + def.id + "'");
  std::string url = ctx.str("url");
  auto compression = ctx.opt_str("compression").value_or("");
  if (!compression.empty() && content != "iso") {
    throw Error::param("compression", "decompression is only supported for ISO images");
  }
  storage::DownloadOptions opts;
  opts.verify_certificates = ctx.flag("verify-certificates", true);
  // Never fill the storage: the download may use what is free now, less 1%.
  auto status = svc.plugin(def).status(def);
  opts.max_size = status.avail - status.total / 100;
  if (opts.max_size <= 0) throw Error("storage '" + def.id + "' has no free space", 507);
  if (const char* ca = std::getenv("PVX_DOWNLOAD_CA_FILE")) opts.ca_file = ca;  // tests' own CA
  auto algorithm = ctx.opt_str("checksum-algorithm").value_or("");
  auto expected = ctx.opt_str("checksum").value_or("");

  return spawn_url_download(ctx, def.id, dir, target, url, opts, algorithm, expected, compression);
}

fs::path upload_spool_dir(Services& services, const std::map<std::string, std::string>& path_params) {
  auto& svc = *services.storage;
  auto it = path_params.find("storage");
  if (it == path_params.end()) throw Error::param("storage", "missing");
  auto def = svc.get(it->second);
  svc.activate(def);
  if (!svc.plugin(def).info().file_based) {
    throw Error("storage '" + def.id + "' (type " + def.type + ") cannot hold uploaded files", 400);
  }
  // Somewhere on the storage's own filesystem, so the final move is a rename.
  return def.path();
}

Schema checksum_params(std::vector<std::pair<std::string, Schema>> p) {
  p.emplace_back("checksum", string("The expected checksum of the file.").req("checksum-algorithm").opt());
  p.emplace_back("checksum-algorithm", enumeration({"md5", "sha1", "sha224", "sha256", "sha384", "sha512"},
                                                   "The algorithm to calculate the checksum of the file.")
                                           .req("checksum")
                                           .opt());
  p.emplace_back("content", enumeration({"iso", "vztmpl", "import"}, "Content type.").fmt("pve-storage-content"));
  p.emplace_back("filename", string("The name of the file to create. Caution: This will be normalized!").max_len(255));
  p.emplace_back("node", std_opt::node());
  p.emplace_back("storage", std_opt::storage_id().desc("The storage identifier."));
  return object(std::move(p));
}

}  // namespace

void register_storage_upload(Router& r) {
  r.add({
      .name = "upload",
      .verb = Verb::Post,
      .path = "/nodes/{node}/storage/{storage}/upload",
      .description = "Upload templates, ISO images, OVAs and VM images.",
      .parameters = ref(checksum_params({{"tmpfilename",
                                          string("The source file name. This parameter is usually set by the REST "
                                                 "handler. You can only overwrite it when connecting to the trusted "
                                                 "port on localhost.")
                                              .opt()}})),
      .returns = ref(string()),
      .permission = perm("/storage/{storage}", {"Datastore.AllocateTemplate"}),
      .protected_ = true,
      .handler = upload,
      .spool_dir = upload_spool_dir,
  });
  r.add({
      .name = "download_url",
      .verb = Verb::Post,
      .path = "/nodes/{node}/storage/{storage}/download-url",
      .description = "Download templates, ISO images, OVAs and VM images by using an URL.",
      .parameters = ref(checksum_params({
          {"url", string("The URL to download the file from.").pat("https?://.*")},
          {"verify-certificates", boolean("If false, no SSL/TLS certificates will be verified.").def(1).opt()},
          {"compression", enumeration({"gz", "lzo", "zst", "bz2"},
                                      "Decompress the downloaded file using the specified compression algorithm.")
                              .opt()},
      })),
      .returns = ref(string()),
      .permission = all_of({perm("/storage/{storage}", {"Datastore.AllocateTemplate"}),
                            any_of({perm("/", {"Sys.Audit", "Sys.Modify"}), perm("/nodes/{node}", {"Sys.AccessNetwork"})})})
                        .describe("Requires allocation access on the storage and as this allows one to probe the "
                                  "(local!) host network indirectly it also requires one of Sys.Modify on / (for "
                                  "backwards compatibility) or the newer Sys.AccessNetwork privilege on the node."),
      .protected_ = true,
      .proxyto = "node",
      .handler = download,
  });
}

}  // namespace pvx::api::handlers
