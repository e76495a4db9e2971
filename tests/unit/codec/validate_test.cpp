// The public validators: valid_utf8, valid_topic_name, valid_topic_filter, parse_shared.
#include "tests/unit/codec/codec_test_util.hpp"

using namespace tern::codec;

TEST_CASE("[MQTT-1.5.4-1] valid_utf8 accepts well-formed UTF-8 of every length") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain ascii text that is longer than eight bytes"));
  CHECK(valid_utf8("\xC2\x80"));              // U+0080, smallest two-byte
  CHECK(valid_utf8("\xDF\xBF"));              // U+07FF
  CHECK(valid_utf8("\xE0\xA0\x80"));          // U+0800, smallest three-byte
  CHECK(valid_utf8("\xED\x9F\xBF"));          // U+D7FF, just below the surrogates
  CHECK(valid_utf8("\xEE\x80\x80"));          // U+E000, just above them
  CHECK(valid_utf8("\xEF\xBF\xBF"));          // U+FFFF
  CHECK(valid_utf8("\xF0\x90\x80\x80"));      // U+10000
  CHECK(valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF, the last code point
  CHECK(valid_utf8("\xEF\xBB\xBF"));          // U+FEFF [MQTT-1.5.4-3]
  CHECK(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 done, and some more ascii"));
}

TEST_CASE("[MQTT-1.5.4-1] valid_utf8 rejects overlongs, surrogates and out-of-range forms") {
  CHECK_FALSE(valid_utf8("\xC0\x80"));              // overlong U+0000
  CHECK_FALSE(valid_utf8("\xC1\xBF"));              // overlong U+007F
  CHECK_FALSE(valid_utf8("\xE0\x9F\xBF"));          // overlong U+07FF
  CHECK_FALSE(valid_utf8("\xF0\x8F\xBF\xBF"));      // overlong U+FFFF
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));          // U+D800
  CHECK_FALSE(valid_utf8("\xED\xAF\xBF\xED\xBF\xBF"));  // a surrogate pair (CESU-8)
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));      // U+110000
  CHECK_FALSE(valid_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(valid_utf8("\xF8\x88\x80\x80\x80"));  // five-byte form
  CHECK_FALSE(valid_utf8("\xC3"));                  // truncated
  CHECK_FALSE(valid_utf8("\xE2\x82"));
  CHECK_FALSE(valid_utf8("\xF0\x9F\x98"));
  CHECK_FALSE(valid_utf8("\xC3\x28"));              // bad continuation
  CHECK_FALSE(valid_utf8("\xE2\x28\xA1"));
  CHECK_FALSE(valid_utf8("\xE2\x82\x28"));
  CHECK_FALSE(valid_utf8("\x80"));
  CHECK_FALSE(valid_utf8("\xBF"));
  CHECK_FALSE(valid_utf8("\xFE"));
  CHECK_FALSE(valid_utf8("\xFF"));
}

TEST_CASE("[MQTT-1.5.4-2] valid_utf8 rejects U+0000 anywhere, including the fast path") {
  for (std::size_t pos = 0; pos < 24; ++pos) {
    std::string s(24, 'a');
    s[pos] = '\0';
    INFO("NUL at " << pos);
    CHECK_FALSE(valid_utf8(s));
  }
  // A bad byte after a run of ASCII long enough for the eight-byte fast path.
  for (std::size_t pos = 0; pos < 24; ++pos) {
    std::string s(24, 'a');
    s[pos] = '\xFF';
    CHECK_FALSE(valid_utf8(s));
  }
}

TEST_CASE("[MQTT-3.3.2-2] [MQTT-4.7.3-1] valid_topic_name") {
  CHECK(valid_topic_name("a"));
  CHECK(valid_topic_name("/"));
  CHECK(valid_topic_name("a//b/"));
  CHECK(valid_topic_name("$SYS/broker"));
  CHECK(valid_topic_name(" spaces are fine "));
  CHECK_FALSE(valid_topic_name(""));
  CHECK_FALSE(valid_topic_name("a/+"));
  CHECK_FALSE(valid_topic_name("a/#"));
  CHECK_FALSE(valid_topic_name("a+b"));
  CHECK_FALSE(valid_topic_name(std::string("a\0b", 3)));
  CHECK_FALSE(valid_topic_name("\xC0\xAF"));
  CHECK(valid_topic_name(std::string(65535, 'x')));
  CHECK_FALSE(valid_topic_name(std::string(65536, 'x')));
}

TEST_CASE("[MQTT-4.7.1-1] [MQTT-4.7.1-2] valid_topic_filter") {
  for (const char* ok : {"#", "+", "a", "/", "a/b", "a/+/c", "a/#", "+/+", "/+", "+/", "/#",
                         "$SYS/#", "a//b", "$share", "$sharex/a", "$share/g/#", "$share/g/+/a",
                         "$share/g//"}) {
    INFO(ok);
    CHECK(valid_topic_filter(ok));
  }
  for (const char* bad : {"", "a#", "#a", "a/#/b", "#/", "a+", "+a", "a/b+", "++", "##",
                          "$share/", "$share//a", "$share/g", "$share/g/", "$share/+/a",
                          "$share/#/a", "$share/g+/a", "$share/g/a#"}) {
    INFO(bad);
    CHECK_FALSE(valid_topic_filter(bad));
  }
  CHECK_FALSE(valid_topic_filter(std::string("a\0", 2)));
}

TEST_CASE("[MQTT-4.8.2-1] [MQTT-4.8.2-2] parse_shared splits group and filter") {
  const auto s = parse_shared("$share/grp/a/b/#");
  REQUIRE(s.has_value());
  CHECK(s->group == "grp");
  CHECK(s->filter == "a/b/#");
  CHECK_FALSE(parse_shared("a/b").has_value());
  CHECK_FALSE(parse_shared("$share").has_value());
  CHECK_FALSE(parse_shared("$sharex/g/a").has_value());
  CHECK_FALSE(parse_shared("$SHARE/g/a").has_value());  // case-sensitive
}

TEST_CASE("[MQTT-3.3.2-2] a wildcard is found at every position of a long topic name") {
  for (char wildcard : {'+', '#'}) {
    for (std::size_t pos = 0; pos < 40; ++pos) {
      std::string s(40, 'a');
      s[pos] = wildcard;
      INFO(wildcard << " at " << pos);
      CHECK_FALSE(valid_topic_name(s));
    }
  }
  // Bytes one off from '+' (0x2B) and '#' (0x23) are not wildcards.
  CHECK(valid_topic_name("*,\"$*,\"$*,\"$*,\"$*,\"$"));
}

TEST_CASE("topic_matches: levels, '+', '#' and the '$' rule [MQTT-4.7.1-2] [MQTT-4.7.2-1]",
          "[codec][topic]") {
  using tern::codec::topic_matches;
  CHECK(topic_matches("a/b", "a/b"));
  CHECK_FALSE(topic_matches("a/b", "a/c"));
  CHECK_FALSE(topic_matches("a/b", "a/b/c"));
  CHECK_FALSE(topic_matches("a/b/c", "a/b"));
  CHECK(topic_matches("a/+", "a/b"));
  CHECK(topic_matches("a/+", "a/"));  // an empty level is a level
  CHECK_FALSE(topic_matches("a/+", "a/b/c"));
  CHECK(topic_matches("+/+", "/x"));
  CHECK(topic_matches("a/#", "a"));  // the parent level too
  CHECK(topic_matches("a/#", "a/b/c"));
  CHECK_FALSE(topic_matches("a/#", "ab"));
  CHECK(topic_matches("#", "x/y"));
  CHECK_FALSE(topic_matches("#", "$SYS/x"));
  CHECK_FALSE(topic_matches("+/x", "$SYS/x"));
  CHECK(topic_matches("$SYS/#", "$SYS/x"));
}
