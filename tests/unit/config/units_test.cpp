// Value syntax: durations, sizes, bind addresses and their printed forms.

#include <catch2/catch.hpp>
#include <string>

#include "broker/config/config.hpp"

using namespace tern::config;
using Catch::Matchers::Contains;

namespace {

std::optional<Millis> dur(const char* s) {
  std::string err;
  return parse_duration(s, err);
}

std::string dur_error(const char* s) {
  std::string err;
  REQUIRE_FALSE(parse_duration(s, err).has_value());
  return err;
}

std::optional<std::uint64_t> size(const char* s) {
  std::string err;
  return parse_size(s, err);
}

std::string size_error(const char* s) {
  std::string err;
  REQUIRE_FALSE(parse_size(s, err).has_value());
  return err;
}

std::string bind_error(const char* s) {
  std::string err;
  REQUIRE_FALSE(parse_bind(s, err).has_value());
  return err;
}

}  // namespace

TEST_CASE("durations take a unit", "[config][units]") {
  CHECK(dur("500ms") == Millis{500});
  CHECK(dur("30s") == Millis{30'000});
  CHECK(dur("5m") == Millis{300'000});
  CHECK(dur("2h") == Millis{7'200'000});
  CHECK(dur("14d") == Millis{14LL * 86'400'000});
  CHECK(dur("0s") == Millis{0});
  CHECK(dur("1h30m") == Millis{5'400'000});
  CHECK(dur("1m500ms") == Millis{60'500});
}

TEST_CASE("bad durations are refused with the reason", "[config][units]") {
  // A plain number is ambiguous (seconds? milliseconds?).
  CHECK_THAT(dur_error("30"), Contains("expected a duration with a unit") && Contains("\"30\""));
  CHECK_THAT(dur_error(""), Contains("expected a duration"));
  CHECK_THAT(dur_error("s"), Contains("expected a duration"));
  CHECK_THAT(dur_error("-5s"), Contains("expected a duration"));
  CHECK_THAT(dur_error("1.5s"), Contains("unknown duration unit \".\""));
  CHECK_THAT(dur_error("10sec"), Contains("unknown duration unit \"sec\""));
  CHECK_THAT(dur_error("5 s"), Contains("unknown duration unit"));
  CHECK_THAT(dur_error("30m1h"), Contains("largest unit to the smallest"));
  CHECK_THAT(dur_error("1s1s"), Contains("largest unit to the smallest"));
  CHECK_THAT(dur_error("99999999999999999999d"), Contains("too large"));
  CHECK_THAT(dur_error("20000000d"), Contains("too large"));
}

TEST_CASE("sizes take binary units or plain bytes", "[config][units]") {
  CHECK(size("0") == 0u);
  CHECK(size("512") == 512u);
  CHECK(size("100B") == 100u);
  CHECK(size("256KiB") == 256u * 1024);
  CHECK(size("64MiB") == 64u * 1024 * 1024);
  CHECK(size("64 MiB") == 64u * 1024 * 1024);
  CHECK(size("1GiB") == 1024ull * 1024 * 1024);
  CHECK(size("2TiB") == 2048ull * 1024 * 1024 * 1024);
}

TEST_CASE("bad sizes are refused with the reason", "[config][units]") {
  CHECK_THAT(size_error("64MB"), Contains("ambiguous size unit \"MB\"") && Contains("MiB"));
  CHECK_THAT(size_error("1k"), Contains("ambiguous size unit"));
  CHECK_THAT(size_error("lots"), Contains("expected a size") && Contains("\"lots\""));
  CHECK_THAT(size_error("-1"), Contains("expected a size"));
  CHECK_THAT(size_error("1.5MiB"), Contains("expected a size"));
  CHECK_THAT(size_error("5 xyz"), Contains("expected a size"));
  CHECK_THAT(size_error("MiB"), Contains("expected a size"));
  CHECK_THAT(size_error("99999999999999999999999"), Contains("too large"));
  CHECK_THAT(size_error("1048576TiB"), Contains("too large"));
}

TEST_CASE("bind addresses: IPv4, bracketed IPv6, canonical form", "[config][units]") {
  std::string err;
  auto b = parse_bind("0.0.0.0:1883", err);
  REQUIRE(b);
  CHECK(b->host == "0.0.0.0");
  CHECK(b->port == 1883);
  CHECK_FALSE(b->ipv6);
  CHECK(b->is_wildcard());
  CHECK(b->to_string() == "0.0.0.0:1883");

  b = parse_bind("[::]:1883", err);
  REQUIRE(b);
  CHECK(b->host == "::");
  CHECK(b->ipv6);
  CHECK(b->is_wildcard());
  CHECK(b->to_string() == "[::]:1883");

  // Different spellings of one address compare equal.
  auto b1 = parse_bind("[0:0::1]:8883", err);
  auto b2 = parse_bind("[::1]:8883", err);
  REQUIRE(b1);
  REQUIRE(b2);
  CHECK(*b1 == *b2);
  CHECK_FALSE(b1->is_wildcard());

  b = parse_bind("127.0.0.1:0", err);
  REQUIRE(b);
  CHECK(b->port == 0);
  b = parse_bind("127.0.0.1:65535", err);
  REQUIRE(b);
  CHECK(b->port == 65535);
}

TEST_CASE("bad bind addresses are refused with the reason", "[config][units]") {
  CHECK(bind_error("0.0.0.0:99999") == "port 99999 out of range (0-65535)");
  CHECK(bind_error("0.0.0.0:65536") == "port 65536 out of range (0-65535)");
  CHECK_THAT(bind_error("0.0.0.0:123456789012345678901234"), Contains("out of range"));
  CHECK_THAT(bind_error("0.0.0.0"), Contains("expected \"host:port\""));
  CHECK_THAT(bind_error("0.0.0.0:"), Contains("expected a port number"));
  CHECK_THAT(bind_error("0.0.0.0:http"), Contains("expected a port number"));
  CHECK_THAT(bind_error("0.0.0.0:-1"), Contains("expected a port number"));
  CHECK_THAT(bind_error(":::1883"), Contains("IPv6 addresses must be in brackets"));
  CHECK_THAT(bind_error("localhost:1883"), Contains("not an IPv4 address"));
  CHECK_THAT(bind_error("256.0.0.1:1883"), Contains("not an IPv4 address"));
  CHECK_THAT(bind_error("[127.0.0.1]:1883"), Contains("not an IPv6 address"));
  CHECK_THAT(bind_error("[::1:1883"), Contains("expected \"host:port\""));
  CHECK_THAT(bind_error("[::1]1883"), Contains("expected \"host:port\""));
  CHECK_THAT(bind_error(""), Contains("expected \"host:port\""));
}

TEST_CASE("the --bind option takes an address alone", "[config][units]") {
  std::string err;
  auto b = parse_bind_host("::", 1884, err);
  REQUIRE(b);
  CHECK(b->to_string() == "[::]:1884");
  b = parse_bind_host("[::1]", 1, err);
  REQUIRE(b);
  CHECK(b->to_string() == "[::1]:1");
  b = parse_bind_host("127.0.0.1", 0, err);
  REQUIRE(b);
  CHECK(b->to_string() == "127.0.0.1:0");
  CHECK_FALSE(parse_bind_host("127.0.0.1:1883", 1883, err));
  CHECK_THAT(err, Contains("-p/--port"));
  CHECK_FALSE(parse_bind_host("example.com", 1883, err));
  CHECK_FALSE(parse_bind_host("", 1883, err));
}

TEST_CASE("durations and sizes print as the YAML spells them", "[config][units]") {
  CHECK(format_duration(Millis{0}) == "0s");
  CHECK(format_duration(Millis{500}) == "500ms");
  CHECK(format_duration(Millis{7'200'000}) == "2h");
  CHECK(format_duration(Millis{5'400'000}) == "1h30m");
  CHECK(format_duration(Millis{14LL * 86'400'000}) == "14d");
  CHECK(format_duration(Millis{61'001}) == "1m1s1ms");
  CHECK(format_size(0) == "0B");
  CHECK(format_size(1000) == "1000B");
  CHECK(format_size(1024) == "1KiB");
  CHECK(format_size(1536) == "1536B");
  CHECK(format_size(64 * kMiB) == "64MiB");
  CHECK(format_size(kGiB) == "1GiB");
  // Printing then parsing gives the value back.
  for (auto ms : {0LL, 1LL, 999LL, 1000LL, 61'001LL, 90'061'001LL}) {
    std::string err;
    CHECK(parse_duration(format_duration(Millis{ms}), err) == Millis{ms});
  }
  for (std::uint64_t b :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1023}, kKiB, 3 * kMiB, 5 * kGiB + 1}) {
    std::string err;
    CHECK(parse_size(format_size(b), err) == b);
  }
}

TEST_CASE("log level names", "[config][units]") {
  CHECK(parse_log_level("trace") == LogLevel::Trace);
  CHECK(parse_log_level("warn") == LogLevel::Warn);
  CHECK(parse_log_level("off") == LogLevel::Off);
  CHECK_FALSE(parse_log_level("warning"));
  CHECK_FALSE(parse_log_level("INFO"));
  CHECK(to_string(LogLevel::Critical) == "critical");
  CHECK(to_string(Overflow::DropNewest) == "drop_newest");
  CHECK(to_string(SlowClient::Drop) == "drop");
  CHECK(to_string(LogFormat::Json) == "json");
}
