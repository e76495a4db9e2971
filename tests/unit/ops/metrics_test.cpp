// render_prometheus: the output is parsed back as Prometheus text format 0.0.4 and checked
// for the rules a scraper enforces (HELP/TYPE before samples, valid names, unique series,
// escaped labels, cumulative histogram buckets) and for the values of the snapshot.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "broker/ops/metrics.hpp"
#include "tests/unit/ops/fixture.hpp"
#include "tests/unit/ops/prom_parse.hpp"

using namespace tern;
using tern::ops::test::parse_prometheus;
using tern::ops::test::Sample;

TEST_CASE("prometheus: every sample belongs to a family with HELP and TYPE", "[ops][prom]") {
  const std::string text = ops::render_prometheus(ops::test::populated_snapshot());
  const auto parsed = parse_prometheus(text);
  REQUIRE(parsed.errors.empty());
  REQUIRE(parsed.samples.size() > 60);
  const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  std::set<std::string> series;
  for (const Sample& s : parsed.samples) {
    INFO(s.name);
    CHECK(std::regex_match(s.name, name_re));
    CHECK(s.name.rfind("tern_", 0) == 0);
    CHECK(!s.family.empty());
    REQUIRE(parsed.types.count(s.family) == 1);
    CHECK(parsed.helps.count(s.family) == 1);
    if (parsed.types.at(s.family) == "counter") CHECK(s.name.size() > 6);
    if (parsed.types.at(s.family) == "counter") {
      CHECK(s.name.substr(s.name.size() - 6) == "_total");
    }
    // No series twice (same name and labels).
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
    CHECK(series.insert(key).second);
  }
  // Every declared family has at least one sample.
  for (const auto& [family, type] : parsed.types) {
    bool found = false;
    for (const Sample& s : parsed.samples) found = found || s.family == family;
    CHECK(found);
  }
}

TEST_CASE("prometheus: values come from the snapshot", "[ops][prom]") {
  ops::Snapshot snap = ops::test::populated_snapshot();
  auto parsed = parse_prometheus(ops::render_prometheus(snap));
  CHECK(parsed.value("tern_clients_connected") == 7);
  CHECK(parsed.value("tern_clients_maximum") == 9);
  CHECK(parsed.value("tern_clients_disconnected") == 5);  // 12 sessions - 7 connected
  CHECK(parsed.value("tern_messages_received_total") == 1000);
  CHECK(parsed.value("tern_bytes_sent_total") == 160000);
  CHECK(parsed.value("tern_messages_queued") == 33);
  CHECK(parsed.value("tern_retained_messages") == 5);
  CHECK(parsed.value("tern_subscriptions") == 21);
  CHECK(parsed.value("tern_uptime_seconds") == Approx(123.456));
  CHECK(parsed.value("tern_messages_dropped_total", {{"reason", "queue_full"}}) == 3);
  CHECK(parsed.value("tern_messages_dropped_total", {{"reason", "slow_client"}}) == 11);
  CHECK(parsed.value("tern_listener_connections", {{"listener", "mqtt"}}) == 6);
  CHECK(parsed.value("tern_listener_connections_accepted_total", {{"listener", "mqtt"}}) == 30);
  CHECK(parsed.value("tern_bridge_connected", {{"bridge", "cloud"}}) == 1);
  CHECK(parsed.value("tern_bridge_queue_depth", {{"bridge", "cloud"}}) == 17);
  CHECK(parsed.value("tern_bridge_oldest_age_seconds", {{"bridge", "cloud"}}) == 4.5);
  CHECK(parsed.value("tern_bridge_dropped_total",
                     {{"bridge", "cloud"}, {"reason", "remote_rejected"}}) == 1);
  CHECK(parsed.value("tern_storage_size_bytes") == 1 << 20);
  CHECK(parsed.value("tern_build_info", {{"version", "0.1.0"}}) == 1);

  // A changed figure shows: the rendering is not canned.
  snap.broker.clients_connected = 1234;
  snap.bridges[0].connected = false;
  parsed = parse_prometheus(ops::render_prometheus(snap));
  CHECK(parsed.value("tern_clients_connected") == 1234);
  CHECK(parsed.value("tern_bridge_connected", {{"bridge", "cloud"}}) == 0);
}

TEST_CASE("prometheus: label values are escaped and read back intact", "[ops][prom]") {
  const std::string text = ops::render_prometheus(ops::test::populated_snapshot());
  // The raw text holds the escapes, never a bare line feed inside a label.
  CHECK(text.find("listener=\"od\\\"d\\\\na\\nme\"") != std::string::npos);
  const auto parsed = parse_prometheus(text);
  REQUIRE(parsed.errors.empty());
  CHECK(parsed.value("tern_listener_connections", {{"listener", "od\"d\\na\nme"}}) == 2);
}

TEST_CASE("prometheus: commit latency is a cumulative histogram", "[ops][prom]") {
  const auto parsed = parse_prometheus(ops::render_prometheus(ops::test::populated_snapshot()));
  REQUIRE(parsed.types.at("tern_storage_commit_latency_seconds") == "histogram");
  std::vector<std::pair<double, double>> buckets;  // (le, count)
  for (const Sample& s : parsed.samples) {
    if (s.name != "tern_storage_commit_latency_seconds_bucket") continue;
    const std::string le = s.labels.at("le");
    buckets.emplace_back(le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr), s.value);
  }
  REQUIRE(buckets.size() == storage::LatencyHistogram::kBoundsUs.size() + 1);
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    CHECK(buckets[i].first > buckets[i - 1].first);    // bounds ascending
    CHECK(buckets[i].second >= buckets[i - 1].second);  // counts cumulative
  }
  CHECK(std::isinf(buckets.back().first));
  CHECK(buckets.back().second == 50);
  CHECK(parsed.value("tern_storage_commit_latency_seconds_count") == 50);
  // 30 x 0.7 ms + 15 x 20 ms + 5 x 9 s
  CHECK(parsed.value("tern_storage_commit_latency_seconds_sum") == Approx(0.021 + 0.3 + 45));
  // 0.7 ms falls in le=0.001, 20 ms in le=0.025, 9 s only in +Inf.
  CHECK(parsed.value("tern_storage_commit_latency_seconds_bucket", {{"le", "0.0005"}}) == 0);
  CHECK(parsed.value("tern_storage_commit_latency_seconds_bucket", {{"le", "0.001"}}) == 30);
  CHECK(parsed.value("tern_storage_commit_latency_seconds_bucket", {{"le", "0.025"}}) == 45);
  CHECK(parsed.value("tern_storage_commit_latency_seconds_bucket", {{"le", "2.5"}}) == 45);
}

TEST_CASE("prometheus: storage and bridge families only when present", "[ops][prom]") {
  ops::Snapshot s;
  s.version = "x";
  const auto parsed = parse_prometheus(ops::render_prometheus(s));
  REQUIRE(parsed.errors.empty());
  CHECK(parsed.value("tern_storage_enabled") == 0);
  CHECK(parsed.types.count("tern_storage_commit_latency_seconds") == 0);
  CHECK(parsed.types.count("tern_bridge_connected") == 0);
  CHECK(parsed.types.count("tern_clients_connected") == 1);
}

TEST_CASE("latency histogram: bucket edges are inclusive upper bounds", "[ops][prom]") {
  storage::LatencyHistogram h;
  h.record(std::chrono::microseconds(100));   // == first bound: first bucket
  h.record(std::chrono::microseconds(101));   // second
  h.record(std::chrono::microseconds(-5));    // clock oddity: counted as 0
  h.record(std::chrono::microseconds(2500001));  // above every bound
  CHECK(h.counts[0] == 2);
  CHECK(h.counts[1] == 1);
  CHECK(h.counts.back() == 1);
  CHECK(h.count == 4);
  CHECK(h.sum_us == 100 + 101 + 0 + 2500001);
}
