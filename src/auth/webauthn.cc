#include "auth/webauthn.h"

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <memory>

#include "base/error.h"
#include "base/random.h"
#include "base/strings.h"

namespace pvx::auth {

namespace {

using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& why) { throw Error("webauthn: " + why, 400); }

std::string sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

struct CborDeleter {
  void operator()(cbor_item_t* item) const { cbor_decref(&item); }
};
using CborPtr = std::unique_ptr<cbor_item_t, CborDeleter>;

// Decodes one CBOR item at the start of `data`; `used` gets its length.
CborPtr cbor_parse(std::string_view data, std::size_t* used = nullptr) {
  cbor_load_result result;
  cbor_item_t* item = cbor_load(reinterpret_cast<cbor_data>(data.data()), data.size(), &result);
  if (!item || result.error.code != CBOR_ERR_NONE) {
    if (item) cbor_decref(&item);
    fail("malformed CBOR");
  }
  if (used) *used = result.read;
  return CborPtr(item);
}

std::string cbor_text(const cbor_item_t* item) {
  if (!cbor_isa_string(item) || !cbor_string_is_definite(item)) return {};
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(item)), cbor_string_length(item));
}

std::string cbor_bytes(const cbor_item_t* item) {
  if (!cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) return {};
  return std::string(reinterpret_cast<const char*>(cbor_bytestring_handle(item)), cbor_bytestring_length(item));
}

// An integer key or value as a signed number (COSE uses negative labels).
bool cbor_int(const cbor_item_t* item, std::int64_t& out) {
  if (cbor_isa_uint(item)) {
    out = static_cast<std::int64_t>(cbor_get_int(item));
    return true;
  }
  if (cbor_isa_negint(item)) {
    out = -1 - static_cast<std::int64_t>(cbor_get_int(item));
    return true;
  }
  return false;
}

const cbor_item_t* map_get_text(const cbor_item_t* map, std::string_view key) {
  if (!cbor_isa_map(map)) return nullptr;
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    if (cbor_text(pairs[i].key) == key) return pairs[i].value;
  }
  return nullptr;
}

const cbor_item_t* map_get_int(const cbor_item_t* map, std::int64_t key) {
  if (!cbor_isa_map(map)) return nullptr;
  cbor_pair* pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); ++i) {
    std::int64_t k;
    if (cbor_int(pairs[i].key, k) && k == key) return pairs[i].value;
  }
  return nullptr;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

PkeyPtr p256_key(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) fail("the public key is not a P-256 point");
  std::string point = std::string(1, '\x04') + x + y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  bool ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  if (!ok) fail("the public key is not a valid P-256 point");
  return PkeyPtr(key);
}

bool verify_es256(EVP_PKEY* key, std::string_view data, std::string_view der_signature) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = md && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
            EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(der_signature.data()), der_signature.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

// clientDataJSON: the ceremony type, our challenge and our origin.
std::string check_client_data(const WebauthnSettings& s, const std::string& challenge, const Json& response,
                              const char* type) {
  const std::string raw = base64url_decode(response.value("clientDataJSON", ""));
  Json client;
  try {
    client = Json::parse(raw);
  } catch (const std::exception&) {
    fail("clientDataJSON is not JSON");
  }
  if (client.value("type", "") != type) fail(std::string("clientDataJSON type is not '") + type + "'");
  if (base64url_decode(client.value("challenge", "")) != base64url_decode(challenge)) fail("challenge mismatch");
  if (client.value("origin", "") != s.origin) fail("origin '" + client.value("origin", "") + "' is not '" + s.origin + "'");
  return raw;
}

struct AuthData {
  std::uint8_t flags = 0;
  std::uint32_t counter = 0;
  std::string cred_id;
  std::string cose_key;  // the CBOR credential public key, when attested
};

AuthData parse_auth_data(const WebauthnSettings& s, std::string_view data, bool attested) {
  if (data.size() < 37) fail("authenticator data too short");
  if (data.substr(0, 32) != sha256(s.rp_id)) fail("the credential is for another relying party");
  AuthData out;
  out.flags = static_cast<std::uint8_t>(data[32]);
  if (!(out.flags & 0x01)) fail("user presence flag not set");
  for (int i = 0; i < 4; ++i) out.counter = (out.counter << 8) | static_cast<std::uint8_t>(data[33 + i]);
  if (!attested) return out;
  if (!(out.flags & 0x40) || data.size() < 55) fail("no attested credential data");
  const std::size_t id_len = (static_cast<std::size_t>(static_cast<std::uint8_t>(data[53])) << 8) |
                             static_cast<std::uint8_t>(data[54]);
  if (data.size() < 55 + id_len + 1) fail("credential id truncated");
  out.cred_id = std::string(data.substr(55, id_len));
  std::size_t used = 0;
  cbor_parse(data.substr(55 + id_len), &used);
  out.cose_key = std::string(data.substr(55 + id_len, used));
  return out;
}

// COSE_Key of an ES256 credential: kty 2 (EC2), alg -7, crv 1 (P-256), x, y.
void cose_es256(std::string_view cose, std::string& x, std::string& y) {
  CborPtr key = cbor_parse(cose);
  std::int64_t kty = 0, alg = 0, crv = 0;
  const cbor_item_t* v;
  if (!(v = map_get_int(key.get(), 1)) || !cbor_int(v, kty) || kty != 2) fail("only EC2 credential keys are supported");
  if ((v = map_get_int(key.get(), 3)) && (!cbor_int(v, alg) || alg != -7)) fail("only ES256 credentials are supported");
  if (!(v = map_get_int(key.get(), -1)) || !cbor_int(v, crv) || crv != 1) fail("only P-256 credentials are supported");
  x = (v = map_get_int(key.get(), -2)) ? cbor_bytes(v) : "";
  y = (v = map_get_int(key.get(), -3)) ? cbor_bytes(v) : "";
  if (x.size() != 32 || y.size() != 32) fail("malformed credential public key");
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string b = base64_encode(bytes);
  for (auto& c : b) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  while (!b.empty() && b.back() == '=') b.pop_back();
  return b;
}

std::string base64url_decode(std::string_view text) {
  std::string b(text);
  for (auto& c : b) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) fail("invalid base64url");
  }
  while (b.size() % 4) b += '=';
  return base64_decode(b);
}

std::string webauthn_challenge() { return base64url_encode(random_bytes(32)); }

Json WebauthnCredential::to_json() const {
  auto bytes = [](const std::string& s) {
    Json a = Json::array();
    for (unsigned char c : s) a.push_back(c);
    return a;
  };
  return {{"cred-id", base64url_encode(id)},
          {"cred", {{"type_", "ES256"}, {"key", {{"EC_EC2", {{"curve", "SECP256R1"}, {"x", bytes(x)}, {"y", bytes(y)}}}}}}},
          {"counter", counter}};
}

WebauthnCredential WebauthnCredential::from_json(const Json& j) {
  WebauthnCredential c;
  c.id = base64url_decode(j.value("cred-id", ""));
  const Json& ec = j.at("cred").at("key").at("EC_EC2");
  for (const auto& b : ec.at("x")) c.x += static_cast<char>(b.get<int>());
  for (const auto& b : ec.at("y")) c.y += static_cast<char>(b.get<int>());
  c.counter = j.value("counter", 0u);
  return c;
}

Json webauthn_registration_options(const WebauthnSettings& s, const std::string& userid, const std::string& challenge,
                                   const std::vector<WebauthnCredential>& existing) {
  Json exclude = Json::array();
  for (const auto& c : existing) exclude.push_back({{"type", "public-key"}, {"id", base64url_encode(c.id)}});
  return {{"publicKey",
           {{"rp", {{"id", s.rp_id}, {"name", s.rp_name.empty() ? s.rp_id : s.rp_name}}},
            {"user", {{"id", base64url_encode(userid)}, {"name", userid}, {"displayName", userid}}},
            {"challenge", challenge},
            {"pubKeyCredParams", Json::array({{{"type", "public-key"}, {"alg", -7}}})},
            {"timeout", 60000},
            {"attestation", "none"},
            {"excludeCredentials", exclude},
            {"authenticatorSelection", {{"requireResidentKey", false}, {"userVerification", "discouraged"}}}}}};
}

WebauthnCredential webauthn_verify_registration(const WebauthnSettings& s, const std::string& challenge,
                                                const Json& credential) {
  if (!credential.is_object()) fail("the credential is not a JSON object");
  const Json response = credential.value("response", Json::object());
  const std::string client_data = check_client_data(s, challenge, response, "webauthn.create");
  CborPtr att = cbor_parse(base64url_decode(response.value("attestationObject", "")));
  const cbor_item_t* fmt = map_get_text(att.get(), "fmt");
  const cbor_item_t* auth_data_item = map_get_text(att.get(), "authData");
  if (!fmt || !auth_data_item) fail("attestationObject lacks fmt or authData");
  const std::string auth_data = cbor_bytes(auth_data_item);
  AuthData ad = parse_auth_data(s, auth_data, true);
  WebauthnCredential cred;
  cred.id = ad.cred_id;
  cred.counter = ad.counter;
  cose_es256(ad.cose_key, cred.x, cred.y);
  const std::string format = cbor_text(fmt);
  if (format == "packed") {
    const cbor_item_t* stmt = map_get_text(att.get(), "attStmt");
    const cbor_item_t* sig = stmt ? map_get_text(stmt, "sig") : nullptr;
    if (!sig) fail("packed attestation without a signature");
    const std::string signed_data = auth_data + sha256(client_data);
    PkeyPtr key;
    if (const cbor_item_t* x5c = map_get_text(stmt, "x5c"); x5c && cbor_isa_array(x5c) && cbor_array_size(x5c) > 0) {
      // Attestation by the authenticator's certificate: its signature is checked, its chain of
      // trust is not (pvx keeps no attestation roots, as PVE's "none" conveyance preference).
      cbor_item_t* first = cbor_array_get(x5c, 0);
      const std::string der = cbor_bytes(first);
      cbor_decref(&first);
      const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
      X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
      if (!cert) fail("malformed attestation certificate");
      key.reset(X509_get_pubkey(cert));
      X509_free(cert);
    } else {
      key = p256_key(cred.x, cred.y);  // self attestation
    }
    if (!key || !verify_es256(key.get(), signed_data, cbor_bytes(sig))) fail("attestation signature is invalid");
  } else if (format != "none") {
    fail("unsupported attestation format '" + format + "'");
  }
  const std::string raw_id = base64url_decode(credential.value("rawId", credential.value("id", "")));
  if (raw_id != cred.id) fail("credential id mismatch");
  return cred;
}

Json webauthn_authentication_options(const WebauthnSettings& s, const std::string& challenge,
                                     const std::vector<WebauthnCredential>& allowed) {
  Json allow = Json::array();
  for (const auto& c : allowed) allow.push_back({{"type", "public-key"}, {"id", base64url_encode(c.id)}});
  return {{"publicKey",
           {{"challenge", challenge},
            {"timeout", 60000},
            {"rpId", s.rp_id},
            {"allowCredentials", allow},
            {"userVerification", "discouraged"}}}};
}

std::size_t webauthn_verify_assertion(const WebauthnSettings& s, const std::string& challenge, const Json& assertion,
                                      std::vector<WebauthnCredential>& allowed) {
  if (!assertion.is_object()) fail("the assertion is not a JSON object");
  const std::string raw_id = base64url_decode(assertion.value("rawId", assertion.value("id", "")));
  std::size_t index = allowed.size();
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    if (allowed[i].id == raw_id) index = i;
  }
  if (index == allowed.size()) fail("unknown credential");
  const Json response = assertion.value("response", Json::object());
  const std::string client_data = check_client_data(s, challenge, response, "webauthn.get");
  const std::string auth_data = base64url_decode(response.value("authenticatorData", ""));
  AuthData ad = parse_auth_data(s, auth_data, false);
  WebauthnCredential& cred = allowed[index];
  PkeyPtr key = p256_key(cred.x, cred.y);
  if (!verify_es256(key.get(), auth_data + sha256(client_data), base64url_decode(response.value("signature", "")))) {
    fail("assertion signature is invalid");
  }
  // A counter that does not grow means a cloned authenticator (both 0: it keeps none).
  if ((ad.counter != 0 || cred.counter != 0) && ad.counter <= cred.counter) fail("signature counter did not increase");
  cred.counter = ad.counter;
  return index;
}

}  // namespace pvx::auth
