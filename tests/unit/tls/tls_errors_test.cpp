// ServerContext::create() failures: each names the file or setting and the problem.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "broker/tls/tls.hpp"
#include "tests/unit/tls/tls_harness.hpp"

using namespace tern::tls;
using namespace tern::tls::test;

namespace {

std::string create_error(const ServerOptions& o) {
  std::string err;
  auto ctx = ServerContext::create(o, err);
  CHECK(ctx == nullptr);
  CHECK_FALSE(err.empty());
  return err;
}

bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("create() errors name the file and the problem", "[tls]") {
  SECTION("missing certificate") {
    ServerOptions o = server_options();
    o.cert_file = cert("nope.crt");
    const std::string err = create_error(o);
    INFO(err);
    CHECK(has(err, "cannot read certificate " + cert("nope.crt")));
    CHECK(has(err, "No such file"));
  }
  SECTION("missing key") {
    ServerOptions o = server_options();
    o.key_file = cert("nope.key");
    const std::string err = create_error(o);
    INFO(err);
    CHECK(has(err, "cannot read key " + cert("nope.key")));
  }
  SECTION("missing CA") {
    ServerOptions o = server_options();
    o.ca_file = cert("nope-ca.crt");
    const std::string err = create_error(o);
    INFO(err);
    CHECK(has(err, cert("nope-ca.crt")));
  }
  SECTION("garbage instead of PEM") {
    const std::string junk = cert("junk.pem");
    std::ofstream(junk) << "this is not a certificate\n";
    ServerOptions o = server_options();
    o.cert_file = junk;
    std::string err = create_error(o);
    INFO(err);
    CHECK(has(err, "cannot read certificate " + junk));
    o = server_options();
    o.key_file = junk;
    err = create_error(o);
    CHECK(has(err, "cannot read key " + junk));
    o = server_options();
    o.ca_file = junk;
    err = create_error(o);
    CHECK(has(err, junk));
    std::remove(junk.c_str());
  }
  SECTION("key does not match the certificate") {
    ServerOptions o = server_options();
    o.key_file = cert("client.key");
    const std::string err = create_error(o);
    INFO(err);
    CHECK(has(err, "does not match"));
    CHECK(has(err, cert("client.key")));
    o.key_file = cert("server-rsa.key");  // a different key type
    CHECK(has(create_error(o), "does not match"));
  }
  SECTION("require_client_cert without a CA") {
    ServerOptions o = server_options();
    o.require_client_cert = true;
    CHECK(has(create_error(o), "CA"));
  }
  SECTION("unknown cipher names") {
    ServerOptions o = server_options();
    o.ciphers = "NOT-A-CIPHER";
    CHECK_FALSE(create_error(o).empty());
    o.ciphers = "TLS_NOT_A_SUITE";
    CHECK(has(create_error(o), "TLS_NOT_A_SUITE"));
  }
}

TEST_CASE("TLS 1.3 availability matches supports_tls13()", "[tls]") {
  ServerOptions o = server_options();
  o.min_version = Version::v1_3;
  std::string err;
  auto ctx = ServerContext::create(o, err);
  if (supports_tls13()) {
    CHECK(ctx != nullptr);
  } else {
    CHECK(ctx == nullptr);
    CHECK(has(err, "TLS 1.3"));
  }
}

TEST_CASE("contexts can be created again and again (certificate reloads)", "[tls]") {
  const ServerOptions o = server_options();
  for (int i = 0; i < 300; ++i) {
    std::string err;
    auto ctx = ServerContext::create(o, err);
    INFO("context " << i << ": " << err);
    REQUIRE(ctx != nullptr);
    REQUIRE(ctx->new_session() != nullptr);
  }
}
