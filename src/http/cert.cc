// The self-signed certificate made at first start, as PVE makes pve-ssl.pem: RSA 2048, SHA-256,
// valid ten years, with the node name, localhost and 127.0.0.1 as subject alternative names.
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <system_error>

#include "base/atomic_file.h"
#include "base/error.h"
#include "http/server.h"

namespace pvx::http {
namespace {

namespace fs = std::filesystem;

constexpr long kValidSeconds = 10L * 365 * 24 * 3600;

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

[[noreturn]] void fail(const std::string& what) {
  unsigned long code = ERR_get_error();
  char buf[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  throw Error("unable to create the TLS certificate: " + what + " (" + buf + ")");
}

void check(int ok, const char* what) {
  if (ok != 1) fail(what);
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

PkeyPtr load_key(const fs::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return nullptr;
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

void add_name(GENERAL_NAMES* names, int type, const unsigned char* data, int len) {
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_STRING* value = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
  if (!name || !value || ASN1_STRING_set(value, data, len) != 1) fail("subject alternative name");
  GENERAL_NAME_set0_value(name, type, value);
  sk_GENERAL_NAME_push(names, name);
}

// Built from structures rather than a config string so an odd hostname cannot inject entries.
void add_subject_alt_names(X509* cert, const std::string& hostname) {
  NamesPtr names(GENERAL_NAMES_new());
  auto dns = [&](const std::string& n) {
    add_name(names.get(), GEN_DNS, reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()));
  };
  if (!hostname.empty() && hostname != "localhost") dns(hostname);
  dns("localhost");
  static const unsigned char kLoopback[4] = {127, 0, 0, 1};
  add_name(names.get(), GEN_IPADD, kLoopback, 4);
  check(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT), "subjectAltName");
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext) fail(std::string("extension ") + OBJ_nid2sn(nid));
  check(X509_add_ext(cert, ext.get(), -1), "add extension");
}

X509Ptr make_certificate(EVP_PKEY* key, const std::string& hostname) {
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  check(X509_set_version(cert.get(), X509_VERSION_3), "version");

  BnPtr serial(BN_new());
  check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "serial");
  if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) fail("serial");

  // Back-dated a little so a client whose clock is slightly behind still accepts it.
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600)) fail("notBefore");
  if (!X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValidSeconds)) fail("notAfter");

  X509_NAME* subject = X509_get_subject_name(cert.get());
  std::string cn = hostname.empty() ? "localhost" : hostname.substr(0, 64);
  auto set_entry = [&](const char* field, const std::string& value) {
    check(X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0),
          field);
  };
  set_entry("O", "pvx self-signed");
  set_entry("CN", cn);
  check(X509_set_issuer_name(cert.get(), subject), "issuer");
  check(X509_set_pubkey(cert.get(), key), "public key");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_extension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  add_subject_alt_names(cert.get(), hostname);

  if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) fail("sign");
  return cert;
}

}  // namespace

void ensure_self_signed_cert(const fs::path& cert, const fs::path& key, const std::string& hostname) {
  std::error_code ec;
  bool have_cert = fs::exists(cert, ec);
  bool have_key = fs::exists(key, ec);
  if (have_cert && have_key) return;

  for (const auto& file : {cert, key}) {
    if (file.has_parent_path()) fs::create_directories(file.parent_path(), ec);
    if (ec) throw Error("unable to create directory " + file.parent_path().string() + ": " + ec.message());
  }

  // A key without its certificate is kept (it may be pinned somewhere); a certificate without
  // its key is useless, so both are made anew.
  PkeyPtr pkey = have_key ? load_key(key) : nullptr;
  bool new_key = !pkey;
  if (new_key) {
    pkey.reset(EVP_RSA_gen(2048));
    if (!pkey) fail("RSA key generation");
  }
  X509Ptr x509 = make_certificate(pkey.get(), hostname);

  if (new_key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    check(PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr), "write key");
    write_file_atomic(key, bio_contents(bio.get()), 0600);
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), x509.get()), "write certificate");
  write_file_atomic(cert, bio_contents(bio.get()), 0644);
}

}  // namespace pvx::http
