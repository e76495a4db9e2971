// The `storage:` section: every key, its default, each bad value with its YAML path and
// line, the storage path rules, and the example configs in configs/.

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "broker/config/config.hpp"

#ifndef TERN_SOURCE_DIR
#error "TERN_SOURCE_DIR must point at the repository root"
#endif

using namespace tern::config;
using Catch::Matchers::Contains;

namespace {

std::string report(const std::string& yaml) {
  const LoadResult r = load_string(yaml, "t.yaml");
  INFO(yaml);
  REQUIRE_FALSE(r.ok());
  return r.error_report();
}

Config ok(const std::string& yaml) {
  const LoadResult r = load_string(yaml, "t.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  return *r.config;
}

}  // namespace

TEST_CASE("storage defaults: in memory, sync batch, small LevelDB", "[config][storage]") {
  const Storage s = defaults().storage;
  CHECK(s.path.empty());
  CHECK_FALSE(s.enabled());
  CHECK(s.sync == SyncMode::Batch);
  CHECK(s.batch_window == Millis{5});
  CHECK(s.on_corruption == OnCorruption::MoveAside);
  CHECK(s.cache_size == 8 * kMiB);
  CHECK(s.write_buffer_size == 4 * kMiB);
  CHECK(s.queue_window == 256);
  CHECK(s.queue_window_bytes == 256 * kKiB);
  // An empty section, or one with only comments, keeps them.
  CHECK(ok("storage:\n").storage == s);
  CHECK(ok("storage: {}\n").storage == s);
  CHECK(ok("storage:\n  # path: /var/lib/tern\n").storage == s);
}

TEST_CASE("storage: every key is read", "[config][storage]") {
  const Storage s = ok(R"(
storage:
  path: /data/tern
  sync: always
  batch_window: 20ms
  on_corruption: fail
  cache_size: 2MiB
  write_buffer_size: 1MiB
  queue_window: 64
  queue_window_bytes: 32KiB
)").storage;
  CHECK(s.path == "/data/tern");
  CHECK(s.enabled());
  CHECK(s.sync == SyncMode::Always);
  CHECK(s.batch_window == Millis{20});
  CHECK(s.on_corruption == OnCorruption::Fail);
  CHECK(s.cache_size == 2 * kMiB);
  CHECK(s.write_buffer_size == kMiB);
  CHECK(s.queue_window == 64);
  CHECK(s.queue_window_bytes == 32 * kKiB);
  // The rest of the configuration is untouched.
  Config expected = defaults();
  expected.storage = s;
  CHECK(ok("storage: {path: /data/tern, sync: always, batch_window: 20ms, on_corruption: fail, "
           "cache_size: 2MiB, write_buffer_size: 1MiB, queue_window: 64, "
           "queue_window_bytes: 32KiB}") == expected);
}

TEST_CASE("storage: boundary and special values", "[config][storage]") {
  CHECK(ok("storage: {sync: none}").storage.sync == SyncMode::None);
  CHECK(ok("storage: {sync: batch}").storage.sync == SyncMode::Batch);
  CHECK(ok("storage: {on_corruption: move_aside}").storage.on_corruption ==
        OnCorruption::MoveAside);
  CHECK(ok("storage: {batch_window: 0ms}").storage.batch_window == Millis{0});
  CHECK(ok("storage: {batch_window: 0s}").storage.batch_window == Millis{0});
  CHECK(ok("storage: {batch_window: 1s}").storage.batch_window == Millis{1000});
  CHECK(ok("storage: {cache_size: 0}").storage.cache_size == 0);  // no block cache
  CHECK(ok("storage: {cache_size: 1GiB}").storage.cache_size == kGiB);
  CHECK(ok("storage: {write_buffer_size: 64KiB}").storage.write_buffer_size == 64 * kKiB);
  CHECK(ok("storage: {write_buffer_size: 1GiB}").storage.write_buffer_size == kGiB);
  CHECK(ok("storage: {queue_window: 1}").storage.queue_window == 1);
  CHECK(ok("storage: {queue_window: 10000000}").storage.queue_window == 10'000'000);
  CHECK(ok("storage: {queue_window_bytes: 1024}").storage.queue_window_bytes == kKiB);
  CHECK(ok("storage: {queue_window_bytes: 1GiB}").storage.queue_window_bytes == kGiB);
  // Trailing slashes go: the store is moved aside as "<path>.corrupt-...", never inside itself.
  CHECK(ok("storage: {path: /var/lib/tern/}").storage.path == "/var/lib/tern");
  CHECK(ok("storage: {path: /var/lib/tern///}").storage.path == "/var/lib/tern");
  CHECK(ok("storage: {path: \"/srv/tern data\"}").storage.path == "/srv/tern data");
  CHECK(ok("storage: {path: /.tern}").storage.path == "/.tern");
  // The keys are checked and kept without a path, so --data-dir can turn them on.
  const Storage s = ok("storage: {sync: always, queue_window: 8}").storage;
  CHECK_FALSE(s.enabled());
  CHECK(s.sync == SyncMode::Always);
  CHECK(s.queue_window == 8);
  CHECK(to_string(SyncMode::Always) == "always");
  CHECK(to_string(SyncMode::Batch) == "batch");
  CHECK(to_string(SyncMode::None) == "none");
  CHECK(to_string(OnCorruption::MoveAside) == "move_aside");
  CHECK(to_string(OnCorruption::Fail) == "fail");
}

TEST_CASE("storage: each bad value is an error with its path and line", "[config][storage]") {
  CHECK_THAT(report("storage:\n  path: \"\"\n"),
             Contains("t.yaml:2: storage.path: expected a non-empty string, got \"\""));
  CHECK_THAT(report("storage:\n  path:\n  sync: batch\n"),
             Contains("t.yaml:2: storage.path: expected a non-empty string, got nothing (null)"));
  CHECK_THAT(report("storage:\n  path: [/a, /b]\n"),
             Contains("t.yaml:2: storage.path: expected a non-empty string, got a list"));
  CHECK_THAT(report("storage:\n  path: var/lib/tern\n"),
             Contains("t.yaml:2: storage.path: expected an absolute path (starting with /), got "
                      "\"var/lib/tern\""));
  CHECK_THAT(report("storage:\n  path: ./data\n"), Contains("storage.path: expected an absolute"));
  CHECK_THAT(report("storage:\n  path: /\n"),
             Contains("t.yaml:2: storage.path: expected a directory of its own"));
  CHECK_THAT(report("storage:\n  path: ///\n"), Contains("storage.path: expected a directory"));
  CHECK_THAT(report("storage:\n  path: /var/lib/..\n"),
             Contains("storage.path: expected a directory of its own"));
  CHECK_THAT(report("storage:\n  path: /var/lib/tern/.\n"),
             Contains("storage.path: expected a directory of its own"));
  CHECK_THAT(report("storage:\n  path: \"/var/\\0lib\"\n"),
             Contains("t.yaml:2: storage.path: a directory name cannot contain a NUL byte"));
  CHECK_THAT(report("storage:\n  path: /" + std::string(4000, 'a') + "\n"),
             Contains("t.yaml:2: storage.path: path is longer than 4000 bytes"));

  CHECK_THAT(report("storage:\n  sync: fsync\n"),
             Contains("t.yaml:2: storage.sync: expected one of always | batch | none, got "
                      "\"fsync\""));
  CHECK_THAT(report("storage:\n  sync: true\n"), Contains("storage.sync: expected one of"));
  CHECK_THAT(report("storage:\n  batch_window: 2s\n"),
             Contains("t.yaml:2: storage.batch_window: expected a duration between 0s and 1s, got "
                      "\"2s\""));
  CHECK_THAT(report("storage:\n  batch_window: 5\n"),
             Contains("t.yaml:2: storage.batch_window: expected a duration with a unit"));
  CHECK_THAT(report("storage:\n  batch_window: -1ms\n"),
             Contains("t.yaml:2: storage.batch_window:"));
  CHECK_THAT(report("storage:\n  on_corruption: ignore\n"),
             Contains("t.yaml:2: storage.on_corruption: expected one of move_aside | fail, got "
                      "\"ignore\""));
  CHECK_THAT(report("storage:\n  cache_size: 2GiB\n"),
             Contains("t.yaml:2: storage.cache_size: expected a size between 0B and 1GiB, got "
                      "\"2GiB\""));
  CHECK_THAT(report("storage:\n  cache_size: 8MB\n"),
             Contains("t.yaml:2: storage.cache_size: ambiguous size unit \"MB\""));
  CHECK_THAT(report("storage:\n  write_buffer_size: 32KiB\n"),
             Contains("t.yaml:2: storage.write_buffer_size: expected a size between 64KiB and "
                      "1GiB, got \"32KiB\""));
  CHECK_THAT(report("storage:\n  write_buffer_size: {a: 1}\n"),
             Contains("storage.write_buffer_size: expected a size such as \"256KiB\""));
  CHECK_THAT(report("storage:\n  queue_window: 0\n"),
             Contains("t.yaml:2: storage.queue_window: expected an integer between 1 and "
                      "10000000, got \"0\""));
  CHECK_THAT(report("storage:\n  queue_window: 256KiB\n"),
             Contains("storage.queue_window: expected an integer"));
  CHECK_THAT(report("storage:\n  queue_window_bytes: 512\n"),
             Contains("t.yaml:2: storage.queue_window_bytes: expected a size between 1KiB and "
                      "1GiB, got \"512\""));
  CHECK_THAT(report("storage:\n  queue_windw: 10\n"),
             Contains("t.yaml:2: storage.queue_windw: unknown key; did you mean "
                      "\"queue_window\"?"));
  CHECK_THAT(report("storage:\n  compression: snappy\n"),
             Contains("t.yaml:2: storage.compression: unknown key (known keys: path, sync, "
                      "batch_window, on_corruption, cache_size, write_buffer_size, queue_window, "
                      "queue_window_bytes)"));
  CHECK_THAT(report("storage: /var/lib/tern\n"),
             Contains("t.yaml:1: storage: expected a mapping of keys to values, got "
                      "\"/var/lib/tern\""));
  CHECK_THAT(report("storage:\n  sync: batch\n  sync: none\n"),
             Contains("t.yaml:3: storage.sync: duplicate key (first at line 2)"));
}

TEST_CASE("storage: every bad key is reported at once, in file order", "[config][storage]") {
  const LoadResult r = load_string(R"(storage:
  path: relative
  sync: sometimes
  batch_window: 1h
  on_corruption: panic
  cache_size: lots
  write_buffer_size: 1KiB
  queue_window: 0
  queue_window_bytes: 1
  window: 5
)",
                                   "d.yaml");
  REQUIRE_FALSE(r.ok());
  const std::string text = r.error_report();
  INFO(text);
  REQUIRE(r.errors.size() == 9);
  const std::vector<std::string> paths = {
      "storage.path",       "storage.sync",         "storage.batch_window",
      "storage.on_corruption", "storage.cache_size", "storage.write_buffer_size",
      "storage.queue_window", "storage.queue_window_bytes", "storage.window"};
  for (std::size_t i = 0; i < paths.size(); ++i) {
    CHECK(r.errors[i].path == paths[i]);
    CHECK(r.errors[i].line == static_cast<int>(i) + 2);
    CHECK_THAT(text, Contains("d.yaml:" + std::to_string(i + 2) + ": " + paths[i] + ": "));
  }
}

TEST_CASE("storage paths: absolute for the YAML, relative allowed for --data-dir",
          "[config][storage]") {
  std::string err;
  CHECK(parse_storage_path("/var/lib/tern", false, err) == "/var/lib/tern");
  CHECK(parse_storage_path("/var/lib/tern//", false, err) == "/var/lib/tern");
  CHECK(parse_storage_path("data", true, err) == "data");
  CHECK(parse_storage_path("data/", true, err) == "data");
  CHECK(parse_storage_path("./data", true, err) == "./data");
  CHECK(parse_storage_path("../data", true, err) == "../data");
  CHECK(parse_storage_path("..data", true, err) == "..data");

  const auto refused = [](std::string_view text, bool relative) {
    std::string e;
    const bool failed = !parse_storage_path(text, relative, e).has_value();
    INFO(text);
    CHECK_FALSE(e.empty());
    return failed;
  };
  CHECK(refused("data", false));
  CHECK(refused("", true));
  CHECK(refused(".", true));
  CHECK(refused("./", true));
  CHECK(refused("..", true));
  CHECK(refused("a/..", true));
  CHECK(refused("/", false));
  CHECK(refused(std::string_view("/a\0b", 4), false));
}

TEST_CASE("every example config in configs/ loads", "[config][storage]") {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(TERN_SOURCE_DIR) / "configs")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  CHECK(files.size() >= 2);  // tern.yaml and durable.yaml at least
  for (const auto& f : files) {
    const LoadResult r = load_file(f.string());
    INFO(r.error_report());
    CHECK(r.ok());
  }
}

TEST_CASE("configs/durable.yaml persists to /var/lib/tern with group commit",
          "[config][storage]") {
  const LoadResult r = load_file(std::string(TERN_SOURCE_DIR) + "/configs/durable.yaml");
  INFO(r.error_report());
  REQUIRE(r.ok());
  const Config& c = *r.config;
  CHECK(c.storage.enabled());
  CHECK(c.storage.path == "/var/lib/tern");
  CHECK(c.storage.sync == SyncMode::Batch);
  CHECK(c.storage.on_corruption == OnCorruption::MoveAside);
  // A session that outlives its connection is what gets persisted.
  CHECK(c.sessions.expiry_default > Seconds{0});
  CHECK(validate(c).empty());
}
