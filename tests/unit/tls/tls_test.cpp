// tls.hpp Session behaviour on this build's backend: handshakes, data, certificates,
// versions, ciphers, close_notify. The peer is an OpenSSL client (tls_harness).
#include <openssl/ssl.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "broker/tls/tls.hpp"
#include "tests/unit/tls/tls_harness.hpp"

using namespace tern::tls;
using namespace tern::tls::test;

namespace {

constexpr bool kMbed = std::string_view(TERN_TLS_BACKEND) == "mbedtls";

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  unsigned x = seed;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 16);
  }
  return s;
}

}  // namespace

TEST_CASE("good handshake, data both ways, writes before the handshake are kept", "[tls]") {
  auto ctx = make_context(server_options());
  auto s = ctx->new_session();
  REQUIRE(s);
  CHECK(s->description().empty());
  REQUIRE(s->write("early hello"));  // before the handshake: buffered
  CHECK_FALSE(s->handshake_done());
  Client c({});
  const Outcome o = handshake(c, *s);
  INFO(s->error() << " / " << c.error());
  REQUIRE(o.server_ok);
  REQUIRE(o.client_ok);
  CHECK(s->error().empty());
  CHECK_FALSE(s->peer_common_name().has_value());
  CHECK(c.received() == "early hello");
  const std::string desc = s->description();
  if (supports_tls13()) {
    CHECK(desc.rfind("TLSv1.3 TLS_", 0) == 0);
  } else {
    CHECK(desc.rfind("TLSv1.2 TLS_", 0) == 0);
  }
  CHECK(desc.find(c.version()) == 0);

  std::string plain;
  REQUIRE(c.write("ping from client"));
  REQUIRE(pump(c, *s, plain));
  CHECK(plain == "ping from client");
  CHECK(plain.capacity() < 1024);  // grows by what was decrypted, not by a record buffer
  REQUIRE(s->write("pong from server"));
  c.received().clear();
  REQUIRE(pump(c, *s, plain));
  CHECK(c.received() == "pong from server");
  // Application data from the peer produces no output of ours.
  REQUIRE(c.write(std::string(40000, 'x')));
  REQUIRE(s->feed(c.take_output(), plain));
  CHECK(s->output().empty());
  CHECK(plain.size() == 16 + 40000);
}

TEST_CASE("1 MiB each way in chunks, fed in odd-sized pieces", "[tls]") {
  auto ctx = make_context(server_options());
  auto s = ctx->new_session();
  Client c({});
  REQUIRE(handshake(c, *s).server_ok);
  const std::string up = pattern(1 << 20, 1);
  const std::string down = pattern(1 << 20, 2);
  std::string plain;
  for (std::size_t off = 0; off < up.size(); off += 10000) {
    REQUIRE(c.write(std::string_view(up).substr(off, 10000)));
    REQUIRE(pump(c, *s, plain, 997));
  }
  CHECK(plain.size() == up.size());
  CHECK(plain == up);
  for (std::size_t off = 0; off < down.size(); off += 7001) {
    REQUIRE(s->write(std::string_view(down).substr(off, 7001)));
    // One write's ciphertext: the plaintext plus per-record overhead, nothing kept back.
    CHECK(s->output().size() >= std::min<std::size_t>(7001, down.size() - off));
    CHECK(s->output().size() < 7001 + 200);
    REQUIRE(pump(c, *s, plain));
  }
  CHECK(c.received() == down);
}

TEST_CASE("handshake fed one byte at a time", "[tls]") {
  auto ctx = make_context(server_options());
  auto s = ctx->new_session();
  Client c({});
  std::string plain;
  REQUIRE(pump(c, *s, plain, 1));
  CHECK(s->handshake_done());
  CHECK(c.handshake_done());
  REQUIRE(c.write("after"));
  REQUIRE(pump(c, *s, plain, 1));
  CHECK(plain == "after");
}

TEST_CASE("a client trusting another CA refuses the server", "[tls]") {
  auto ctx = make_context(server_options());
  auto s = ctx->new_session();
  ClientOptions co;
  co.ca = "other-ca.crt";
  Client c(co);
  const Outcome o = handshake(c, *s);
  CHECK_FALSE(o.client_ok);
  CHECK(c.error().find("certificate verify failed") != std::string::npos);
  CHECK_FALSE(o.server_ok);
  CHECK_FALSE(s->handshake_done());
  CHECK_FALSE(s->error().empty());
  INFO(s->error());
  CHECK(s->error().find("unknown ca") != std::string::npos);
  std::string plain;
  CHECK_FALSE(s->feed("more", plain));  // stays failed
  CHECK_FALSE(s->write("x"));
}

TEST_CASE("an expired server certificate is refused by the client", "[tls]") {
  ServerOptions so = server_options();
  so.cert_file = cert("expired-server.crt");
  so.key_file = cert("expired-server.key");
  auto ctx = make_context(so);
  auto s = ctx->new_session();
  Client c({});
  const Outcome o = handshake(c, *s);
  CHECK_FALSE(o.client_ok);
  CHECK(c.error().find("certificate has expired") != std::string::npos);
  CHECK_FALSE(o.server_ok);
  CHECK_FALSE(s->error().empty());
}

TEST_CASE("an RSA server certificate works", "[tls]") {
  ServerOptions so = server_options();
  so.cert_file = cert("server-rsa.crt");
  so.key_file = cert("server-rsa.key");
  auto s = make_context(so)->new_session();
  Client c({});
  const Outcome o = handshake(c, *s);
  INFO(s->error() << " / " << c.error());
  CHECK(o.server_ok);
  CHECK(o.client_ok);
}

TEST_CASE("client certificates", "[tls]") {
  ServerOptions so = server_options();
  so.ca_file = cert("ca.crt");
  const bool required = GENERATE(true, false);
  so.require_client_cert = required;
  auto ctx = make_context(so);
  auto s = ctx->new_session();
  INFO("required=" << required);

  SECTION("valid certificate: the CN is the peer's name") {
    ClientOptions co;
    co.cert = "client.crt";
    co.key = "client.key";
    Client c(co);
    const Outcome o = handshake(c, *s);
    INFO(s->error() << " / " << c.error());
    REQUIRE(o.server_ok);
    REQUIRE(o.client_ok);
    CHECK(s->peer_common_name() == std::optional<std::string>("client1"));
  }
  SECTION("none given") {
    Client c({});
    const Outcome o = handshake(c, *s);
    INFO(s->error());
    if (required) {
      CHECK_FALSE(o.server_ok);
      CHECK(s->error().find("peer did not return a certificate") != std::string::npos);
      CHECK(c.failed());  // the server's alert reached the client
    } else {
      CHECK(o.server_ok);
      CHECK(o.client_ok);
      CHECK_FALSE(s->peer_common_name().has_value());
    }
  }
  SECTION("certificate from another CA") {
    ClientOptions co;
    co.cert = "other-client.crt";
    co.key = "other-client.key";
    Client c(co);
    const Outcome o = handshake(c, *s);
    INFO(s->error());
    CHECK_FALSE(o.server_ok);
    CHECK(s->error().find("certificate verify failed") != std::string::npos);
    CHECK_FALSE(s->peer_common_name().has_value());
    CHECK(c.failed());
  }
  SECTION("a certificate not made for clients (extendedKeyUsage serverAuth only)") {
    ClientOptions co;
    co.cert = "server.crt";
    co.key = "server.key";
    Client c(co);
    const Outcome o = handshake(c, *s);
    INFO(s->error());
    CHECK_FALSE(o.server_ok);
    CHECK(s->error().find("certificate verify failed") != std::string::npos);
    CHECK_FALSE(s->peer_common_name().has_value());
  }
  SECTION("expired certificate") {
    ClientOptions co;
    co.cert = "expired-client.crt";
    co.key = "expired-client.key";
    Client c(co);
    const Outcome o = handshake(c, *s);
    INFO(s->error());
    CHECK_FALSE(o.server_ok);
    CHECK(s->error().find("certificate verify failed") != std::string::npos);
    CHECK(s->error().find("expired") != std::string::npos);
    CHECK_FALSE(s->peer_common_name().has_value());
  }
}

TEST_CASE("protocol versions", "[tls]") {
  SECTION("the best common version is negotiated") {
    auto s = make_context(server_options())->new_session();
    Client c({});
    REQUIRE(handshake(c, *s).server_ok);
    CHECK(c.version() == (supports_tls13() ? "TLSv1.3" : "TLSv1.2"));
  }
  SECTION("a TLS 1.2-only client works with the default minimum") {
    auto s = make_context(server_options())->new_session();
    ClientOptions co;
    co.max_version = TLS1_2_VERSION;
    Client c(co);
    REQUIRE(handshake(c, *s).server_ok);
    CHECK(c.version() == "TLSv1.2");
    CHECK(s->description().rfind("TLSv1.2 TLS_ECDHE_ECDSA_WITH_", 0) == 0);
  }
  SECTION("min_version 1.3 refuses a TLS 1.2-only client (or is refused at create)") {
    ServerOptions so = server_options();
    so.min_version = Version::v1_3;
    std::string err;
    auto ctx = ServerContext::create(so, err);
    if (!supports_tls13()) {
      CHECK(ctx == nullptr);
      CHECK(err.find("1.3") != std::string::npos);
      return;
    }
    REQUIRE(ctx);
    auto s = ctx->new_session();
    ClientOptions co;
    co.max_version = TLS1_2_VERSION;
    Client c(co);
    const Outcome o = handshake(c, *s);
    CHECK_FALSE(o.server_ok);
    CHECK_FALSE(o.client_ok);
    CHECK_FALSE(s->error().empty());
    auto s2 = ctx->new_session();
    Client c2({});
    REQUIRE(handshake(c2, *s2).server_ok);
    CHECK(c2.version() == "TLSv1.3");
  }
  SECTION("a client that only speaks TLS 1.0/1.1 is refused") {
    auto s = make_context(server_options())->new_session();
    ClientOptions co;
    co.min_version = TLS1_VERSION;
    co.max_version = TLS1_1_VERSION;
    co.ciphers = "DEFAULT:@SECLEVEL=0";
    Client c(co);
    CHECK_FALSE(handshake(c, *s).server_ok);
    CHECK_FALSE(s->error().empty());
  }
}

TEST_CASE("the cipher list restricts what is negotiated", "[tls]") {
  ServerOptions so = server_options();
  so.ciphers = kMbed ? "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384" : "ECDHE-ECDSA-AES256-GCM-SHA384";
  auto ctx = make_context(so);
  SECTION("a client offering it negotiates it (TLS 1.2, the list names no 1.3 suite)") {
    auto s = ctx->new_session();
    Client c({});
    REQUIRE(handshake(c, *s).server_ok);
    CHECK(c.version() == "TLSv1.2");
    CHECK(c.cipher() == "ECDHE-ECDSA-AES256-GCM-SHA384");
    CHECK(s->description() == "TLSv1.2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
  }
  SECTION("a client without it gets no shared cipher") {
    auto s = ctx->new_session();
    ClientOptions co;
    co.max_version = TLS1_2_VERSION;
    co.ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305";
    Client c(co);
    const Outcome o = handshake(c, *s);
    CHECK_FALSE(o.server_ok);
    CHECK_FALSE(o.client_ok);
    INFO(s->error());
    CHECK(s->error().find("no shared cipher") != std::string::npos);
  }
  if (supports_tls13()) {
    SECTION("TLS 1.3 suites restrict too") {
      ServerOptions so13 = server_options();
      so13.ciphers = "TLS_AES_256_GCM_SHA384";
      auto ctx13 = make_context(so13);
      auto s = ctx13->new_session();
      Client c({});
      REQUIRE(handshake(c, *s).server_ok);
      CHECK(s->description() == "TLSv1.3 TLS_AES_256_GCM_SHA384");
      auto s2 = ctx13->new_session();
      ClientOptions co;
      co.min_version = TLS1_3_VERSION;
      co.suites = "TLS_AES_128_GCM_SHA256";
      Client c2(co);
      CHECK_FALSE(handshake(c2, *s2).server_ok);
    }
  }
}

TEST_CASE("close_notify both ways", "[tls]") {
  auto ctx = make_context(server_options());
  std::string plain;
  SECTION("server closes") {
    auto s = ctx->new_session();
    Client c({});
    REQUIRE(handshake(c, *s).server_ok);
    REQUIRE(s->write("last words"));
    s->close();
    CHECK_FALSE(s->output().empty());
    CHECK_FALSE(s->write("too late"));
    REQUIRE(pump(c, *s, plain));
    CHECK(c.received() == "last words");
    CHECK(c.got_close_notify());
    CHECK_FALSE(s->peer_closed());
  }
  SECTION("client closes") {
    auto s = ctx->new_session();
    Client c({});
    REQUIRE(handshake(c, *s).server_ok);
    REQUIRE(c.write("bye"));
    c.shutdown();
    REQUIRE(s->feed(c.take_output(), plain));
    CHECK(plain == "bye");
    CHECK(s->peer_closed());
    CHECK(s->error().empty());
    // Bytes after close_notify are ignored, not an error.
    CHECK(s->feed("\x17\x03\x03\x00\x05hello", plain));
    CHECK(plain == "bye");
    s->close();
    c.put_input(s->output());
    c.step();
    CHECK(c.got_close_notify());
  }
  SECTION("close before the handshake sends nothing and refuses writes") {
    auto s = ctx->new_session();
    REQUIRE(s->write("never sent"));
    s->close();
    CHECK_FALSE(s->write("x"));
    CHECK(s->output().empty());
  }
}

TEST_CASE("garbage input fails with a reason and no crash", "[tls]") {
  auto ctx = make_context(server_options());
  std::string plain;
  SECTION("an HTTP request instead of a ClientHello") {
    auto s = ctx->new_session();
    CHECK_FALSE(s->feed("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", plain));
    CHECK_FALSE(s->error().empty());
    CHECK(plain.empty());
    CHECK_FALSE(s->handshake_done());
  }
  SECTION("random bytes, many seeds") {
    for (unsigned seed = 1; seed <= 200; ++seed) {
      auto s = ctx->new_session();
      const std::string junk = pattern(1 + seed * 7 % 3000, seed);
      const bool ok = s->feed(junk, plain);
      if (ok) {
        // Only possible while the junk still looks like the start of a record.
        CHECK_FALSE(s->handshake_done());
      } else {
        CHECK_FALSE(s->error().empty());
      }
      CHECK(plain.empty());
      CHECK(s->output().size() < 64);  // at most an alert
    }
  }
  SECTION("a bad record after the handshake") {
    auto s = ctx->new_session();
    Client c({});
    REQUIRE(handshake(c, *s).server_ok);
    REQUIRE(c.write("good"));
    std::string rec = c.take_output();
    rec[rec.size() - 3] ^= 0x55;  // breaks the record's authentication tag
    CHECK_FALSE(s->feed(rec, plain));
    CHECK_FALSE(s->error().empty());
    CHECK(plain.empty());
    CHECK_FALSE(s->write("x"));
  }
  SECTION("a record header announcing an oversized record") {
    auto s = ctx->new_session();
    CHECK_FALSE(s->feed(std::string("\x16\x03\x01\xff\xff", 5), plain));
    CHECK_FALSE(s->error().empty());
  }
}

TEST_CASE("sessions outlive their context (a reload drops the old one)", "[tls]") {
  auto ctx = make_context(server_options());
  auto s = ctx->new_session();
  ctx.reset();
  Client c({});
  REQUIRE(handshake(c, *s).server_ok);
  std::string plain;
  REQUIRE(c.write("still here"));
  REQUIRE(pump(c, *s, plain));
  CHECK(plain == "still here");
}

TEST_CASE("the client's Finished and its first data in one feed", "[tls]") {
  auto ctx = make_context(server_options());
  auto s = ctx->new_session();
  Client c({});
  std::string plain;
  // Step by hand: the client writes as soon as its side of the handshake is done, so
  // its last handshake flight and the first record reach the server together.
  for (int i = 0; i < 10 && !c.handshake_done(); ++i) {
    c.step();
    REQUIRE(s->feed(c.take_output(), plain));
    c.put_input(s->output());
    s->output().clear();
  }
  c.step();
  REQUIRE(c.handshake_done());
  REQUIRE(c.write("right away"));
  const std::string flight = c.take_output();
  REQUIRE(s->feed(flight, plain));
  CHECK(s->handshake_done());
  CHECK(plain == "right away");
}

TEST_CASE("one context shared by sessions on several threads", "[tls]") {
  auto ctx = make_context(server_options());
  constexpr int kThreads = 4, kRounds = 8;
  // Clients are made here: Catch2 assertions (in Client's constructor) are not
  // thread-safe. The threads only run sessions and pump.
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kThreads * kRounds; ++i) {
    clients.push_back(std::make_unique<Client>(ClientOptions{}));
  }
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        Client& c = *clients[static_cast<std::size_t>(t * kRounds + i)];
        auto s = ctx->new_session();
        std::string plain;
        if (!pump(c, *s, plain) || !s->handshake_done()) return;
        const std::string msg = "thread " + std::to_string(t) + " round " + std::to_string(i);
        if (!c.write(msg) || !pump(c, *s, plain) || plain != msg) return;
        ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(good == kThreads * kRounds);
}
