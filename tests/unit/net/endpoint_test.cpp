#include <catch2/catch.hpp>

#include "broker/net/endpoint.hpp"

using tern::net::HostPort;
using tern::net::parse_bind;
using tern::net::resolve_bind;

TEST_CASE("parse_bind accepts host:port and bracketed IPv6", "[net]") {
  HostPort hp;
  std::string err;
  REQUIRE(parse_bind("127.0.0.1:1883", hp, err));
  CHECK(hp.host == "127.0.0.1");
  CHECK(hp.port == 1883);
  REQUIRE(parse_bind("[::1]:0", hp, err));
  CHECK(hp.host == "::1");
  CHECK(hp.port == 0);
  REQUIRE(parse_bind("localhost:65535", hp, err));
  CHECK(hp.host == "localhost");
  CHECK(hp.port == 65535);
  REQUIRE(parse_bind(":8080", hp, err));
  CHECK(hp.host.empty());
}

TEST_CASE("parse_bind rejects malformed addresses with a message", "[net]") {
  HostPort hp;
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:12a", "::1:80",
                          "[::1]", "[::1]80", "[::1:80", "[]:80", "host:123456"}) {
    std::string err;
    INFO(bad);
    CHECK_FALSE(parse_bind(bad, hp, err));
    CHECK_FALSE(err.empty());
  }
}

TEST_CASE("resolve_bind yields v4 and v6 endpoints", "[net]") {
  asio::ip::tcp::endpoint ep;
  std::string err;
  REQUIRE(resolve_bind("127.0.0.1:5", ep, err));
  CHECK(ep.address().is_v4());
  CHECK(ep.port() == 5);
  REQUIRE(resolve_bind("[::]:6", ep, err));
  CHECK(ep.address().is_v6());
  CHECK(tern::net::format_endpoint(ep) == "[::]:6");
  REQUIRE(resolve_bind(":7", ep, err));
  CHECK(ep.address().to_string() == "0.0.0.0");
}
