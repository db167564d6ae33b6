#include "auth/openid_client.h"

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>

#include "auth/domains_config.h"
#include "auth/user_config.h"
#include "auth/webauthn.h"
#include "base/error.h"
#include "base/random.h"
#include "base/strings.h"

namespace pvx::auth {

namespace {

using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& why) { throw Error("openid: " + why); }

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > (4u << 20)) return 0;  // nothing sane is this large
  out->append(data, size * n);
  return size * n;
}


// GET (form empty) or POST a form; the answer's JSON. `basic` is "user:password" for the token
// endpoint's client authentication.
Json http_json(const std::string& url, const std::string& form = {}, const std::string& basic = {},
               const std::string& bearer = {}) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (!(url.starts_with("https://") || url.starts_with("http://"))) fail("not an http(s) URL: " + url);
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  std::string body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  if (const char* ca = std::getenv("PVX_OPENID_CA_FILE")) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca);
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  if (!bearer.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + bearer).c_str());
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_guard(headers, curl_slist_free_all);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  if (!form.empty()) curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, form.c_str());
  if (!basic.empty()) {
    curl_easy_setopt(curl.get(), CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl.get(), CURLOPT_USERPWD, basic.c_str());
  }
  CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) fail(url + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  Json j;
  try {
    j = Json::parse(body);
  } catch (const std::exception&) {
    fail(url + " answered HTTP " + std::to_string(status) + " without JSON");
  }
  if (status != 200) {
    fail(url + " answered HTTP " + std::to_string(status) + ": " + j.value("error_description", j.value("error", "")));
  }
  return j;
}

Json discover(const OpenIdSettings& s) {
  std::string base = s.issuer_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  Json d = http_json(base + "/.well-known/openid-configuration");
  std::string issuer = d.value("issuer", "");
  while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
  if (issuer != base) fail("discovery document names issuer '" + d.value("issuer", "") + "', not '" + s.issuer_url + "'");
  for (const char* k : {"authorization_endpoint", "token_endpoint", "jwks_uri"}) {
    if (!d.contains(k) || !d[k].is_string()) fail(std::string("discovery document lacks ") + k);
  }
  return d;
}

std::string sha256(std::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

PkeyPtr key_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  bool ok = ctx && EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  if (!ok) fail(std::string("unusable ") + type + " key in the JWKS");
  return PkeyPtr(key);
}

PkeyPtr jwk_key(const Json& jwk) {
  const std::string kty = jwk.value("kty", "");
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (kty == "RSA") {
    const std::string n = base64url_decode(jwk.value("n", "")), e = base64url_decode(jwk.value("e", ""));
    BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), static_cast<int>(n.size()), nullptr);
    BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), static_cast<int>(e.size()), nullptr);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    auto key = key_from_params("RSA", bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return key;
  }
  if (kty == "EC") {
    const std::string crv = jwk.value("crv", "");
    const char* group = crv == "P-256" ? "prime256v1" : crv == "P-384" ? "secp384r1" : nullptr;
    if (!group) {
      OSSL_PARAM_BLD_free(bld);
      fail("unsupported curve '" + crv + "'");
    }
    const std::string point = std::string(1, '\x04') + base64url_decode(jwk.value("x", "")) + base64url_decode(jwk.value("y", ""));
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    return key_from_params("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  fail("unsupported key type '" + kty + "'");
}

// JOSE's ECDSA signature is r||s; OpenSSL wants DER.
std::string ecdsa_raw_to_der(const std::string& raw) {
  const std::size_t half = raw.size() / 2;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(half), nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + half), static_cast<int>(half), nullptr));
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig, &der);
  std::string out = len > 0 ? std::string(reinterpret_cast<char*>(der), static_cast<std::size_t>(len)) : std::string();
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return out;
}

bool verify_signature(const std::string& alg, EVP_PKEY* key, const std::string& data, const std::string& sig) {
  const EVP_MD* md = alg.ends_with("256") ? EVP_sha256() : alg.ends_with("384") ? EVP_sha384() : EVP_sha512();
  const bool pss = alg.starts_with("PS"), ec = alg.starts_with("ES");
  if ((alg.starts_with("RS") || pss) != (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)) return false;
  if (ec != (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC)) return false;
  const std::string signature = ec ? ecdsa_raw_to_der(sig) : sig;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key) == 1;
  if (ok && pss) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                              reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::string opt(const Realm& r, const char* key, const std::string& fallback = {}) {
  auto v = r.get(key);
  return v && !v->empty() ? *v : fallback;
}

struct PendingStore {
  std::mutex mutex;
  std::map<std::string, OpenIdPending> by_state;
};
PendingStore& pending_store() {
  static PendingStore s;
  return s;
}

}  // namespace

OpenIdSettings OpenIdSettings::from_realm(const Realm& r) {
  OpenIdSettings s;
  s.realm = r.id;
  s.issuer_url = opt(r, "issuer-url");
  s.client_id = opt(r, "client-id");
  s.client_key = opt(r, "client-key");
  s.scopes = opt(r, "scopes", "email profile");
  s.prompt = opt(r, "prompt");
  s.acr_values = opt(r, "acr-values");
  s.username_claim = opt(r, "username-claim", "subject");
  s.groups_claim = opt(r, "groups-claim");
  s.query_userinfo = r.flag("query-userinfo", true);
  for (const auto& a : split_any(opt(r, "audiences"), ", ;")) s.audiences.push_back(a);
  return s;
}

std::string openid_auth_url(const OpenIdSettings& s, const std::string& redirect_url, OpenIdPending& p,
                            std::int64_t now) {
  Json d = discover(s);
  p.realm = s.realm;
  p.state = base64url_encode(random_bytes(24));
  p.nonce = base64url_encode(random_bytes(24));
  p.verifier = base64url_encode(random_bytes(32));
  p.redirect_url = redirect_url;
  p.expires = now + 600;
  std::string endpoint = d["authorization_endpoint"].get<std::string>();
  std::string url = endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") +
                    "response_type=code&client_id=" + url_encode(s.client_id) +
                    "&redirect_uri=" + url_encode(redirect_url) + "&scope=" + url_encode("openid " + s.scopes) +
                    "&state=" + url_encode(p.state) + "&nonce=" + url_encode(p.nonce) +
                    "&code_challenge=" + base64url_encode(sha256(p.verifier)) + "&code_challenge_method=S256";
  if (!s.prompt.empty()) url += "&prompt=" + url_encode(s.prompt);
  if (!s.acr_values.empty()) url += "&acr_values=" + url_encode(s.acr_values);
  return url;
}

Json verify_jwt(const std::string& token, const Json& jwks) {
  auto dot1 = token.find('.');
  auto dot2 = dot1 == std::string::npos ? std::string::npos : token.find('.', dot1 + 1);
  if (dot2 == std::string::npos) fail("the ID token is not a JWT");
  Json header, claims;
  try {
    header = Json::parse(base64url_decode(token.substr(0, dot1)));
    claims = Json::parse(base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1)));
  } catch (const std::exception&) {
    fail("the ID token's header or claims are not JSON");
  }
  const std::string alg = header.value("alg", "");
  static const std::set<std::string> kAllowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"};
  if (!kAllowed.count(alg)) fail("ID token signed with '" + alg + "', which is not accepted");
  const std::string kid = header.value("kid", "");
  const std::string data = token.substr(0, dot2);
  const std::string sig = base64url_decode(token.substr(dot2 + 1));
  bool tried = false;
  for (const auto& jwk : jwks.value("keys", Json::array())) {
    if (!kid.empty() && jwk.value("kid", "") != kid) continue;
    if (jwk.contains("use") && jwk["use"] != "sig") continue;
    tried = true;
    auto key = jwk_key(jwk);
    if (verify_signature(alg, key.get(), data, sig)) return claims;
  }
  fail(tried ? "the ID token's signature does not verify" : "no key '" + kid + "' in the issuer's JWKS");
}

Json openid_finish(const OpenIdSettings& s, const OpenIdPending& p, const std::string& code, std::int64_t now) {
  Json d = discover(s);
  std::string form = "grant_type=authorization_code&code=" + url_encode(code) +
                     "&redirect_uri=" + url_encode(p.redirect_url) + "&code_verifier=" + url_encode(p.verifier) +
                     "&client_id=" + url_encode(s.client_id);
  std::string basic = s.client_key.empty() ? "" : url_encode(s.client_id) + ":" + url_encode(s.client_key);
  Json token = http_json(d["token_endpoint"].get<std::string>(), form, basic);
  if (!token.contains("id_token") || !token["id_token"].is_string()) fail("the token endpoint returned no id_token");
  Json claims = verify_jwt(token["id_token"].get<std::string>(), http_json(d["jwks_uri"].get<std::string>()));
  std::string issuer = d.value("issuer", "");
  if (claims.value("iss", "") != issuer) fail("ID token issuer '" + claims.value("iss", "") + "' is not '" + issuer + "'");
  std::vector<std::string> aud;
  if (claims.contains("aud") && claims["aud"].is_string()) aud.push_back(claims["aud"]);
  if (claims.contains("aud") && claims["aud"].is_array()) {
    for (const auto& a : claims["aud"]) {
      if (a.is_string()) aud.push_back(a);
    }
  }
  bool for_us = false;
  for (const auto& a : aud) {
    for_us = for_us || a == s.client_id || std::find(s.audiences.begin(), s.audiences.end(), a) != s.audiences.end();
  }
  if (!for_us) fail("the ID token is not for client '" + s.client_id + "'");
  constexpr std::int64_t kSkew = 60;
  auto number = [&](const char* k) { return claims.contains(k) && claims[k].is_number() ? claims[k].get<std::int64_t>() : -1; };
  if (number("exp") < 0 || number("exp") + kSkew < now) fail("the ID token has expired");
  if (number("iat") > now + kSkew) fail("the ID token was issued in the future");
  if (number("nbf") > now + kSkew) fail("the ID token is not valid yet");
  if (claims.value("nonce", "") != p.nonce) fail("the ID token's nonce does not match");
  if (s.query_userinfo && d.contains("userinfo_endpoint") && token.contains("access_token")) {
    Json info = http_json(d["userinfo_endpoint"].get<std::string>(), {}, {}, token["access_token"].get<std::string>());
    if (info.value("sub", "") == claims.value("sub", "")) {
      for (auto& [k, v] : info.items()) {
        if (!claims.contains(k)) claims[k] = v;
      }
    }
  }
  return claims;
}

std::string openid_username(const OpenIdSettings& s, const Json& claims) {
  std::string claim = s.username_claim.empty() || s.username_claim == "subject" ? "sub"
                      : s.username_claim == "username"                          ? "preferred_username"
                                                                                : s.username_claim;
  if (!claims.contains(claim) || !claims[claim].is_string() || claims[claim].get<std::string>().empty()) {
    fail("the provider sent no '" + claim + "' claim");
  }
  std::string name = claims[claim].get<std::string>();
  if (!split_userid(name + "@" + s.realm)) fail("'" + name + "' is not a valid user name");
  return name;
}

std::vector<std::string> openid_groups(const OpenIdSettings& s, const Json& claims) {
  std::vector<std::string> out;
  if (s.groups_claim.empty() || !claims.contains(s.groups_claim)) return out;
  const Json& g = claims[s.groups_claim];
  std::vector<std::string> names;
  if (g.is_string()) names.push_back(g);
  if (g.is_array()) {
    for (const auto& v : g) {
      if (v.is_string()) names.push_back(v);
    }
  }
  for (auto name : names) {
    for (auto& c : name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
    }
    if (!name.empty()) out.push_back(name + "-" + s.realm);
  }
  return out;
}

void openid_pending_put(const OpenIdPending& p) {
  auto& st = pending_store();
  std::lock_guard lock(st.mutex);
  for (auto it = st.by_state.begin(); it != st.by_state.end();) {
    it = it->second.expires < p.expires - 600 ? st.by_state.erase(it) : std::next(it);
  }
  if (st.by_state.size() > 10000) st.by_state.erase(st.by_state.begin());
  st.by_state[p.state] = p;
}

std::optional<OpenIdPending> openid_pending_take(const std::string& state, std::int64_t now) {
  auto& st = pending_store();
  std::lock_guard lock(st.mutex);
  auto it = st.by_state.find(state);
  if (it == st.by_state.end()) return std::nullopt;
  OpenIdPending p = it->second;
  st.by_state.erase(it);
  if (p.expires < now) return std::nullopt;
  return p;
}

}  // namespace pvx::auth
