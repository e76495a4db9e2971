// configs/tern.schema.json and the loader accept exactly the same keys: the loader's come
// from config_keys() (learnt by running the section readers), the schema's from walking its
// properties. A key added to one and not the other fails here. (Values, the example configs
// and broken configs are compared by schema_test.py.) JSON is YAML, so yaml-cpp reads it.

#include <yaml-cpp/yaml.h>

#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "broker/config/config.hpp"

#ifndef TERN_SOURCE_DIR
#error "TERN_SOURCE_DIR must point at the repository root"
#endif

using namespace tern::config;

namespace {

const std::string kSchema = std::string(TERN_SOURCE_DIR) + "/configs/tern.schema.json";

// Every key path the schema below `node` allows, written as config_keys() writes them. A
// schema node's keys come from its `properties`, from the subschemas it combines (allOf,
// anyOf, oneOf, $ref into #/definitions/) and, for a list, from its `items`. (if/then/not
// only restrict what the properties already name.)
void walk(const YAML::Node& root, const YAML::Node& node, const std::string& path,
          std::set<std::string>& out, int depth = 0) {
  REQUIRE(depth < 32);  // a $ref cycle would be a broken schema
  if (!node.IsMap()) return;
  if (const YAML::Node ref = node["$ref"]) {
    const std::string r = ref.as<std::string>();
    const std::string prefix = "#/definitions/";
    REQUIRE(r.starts_with(prefix));
    const YAML::Node target = root["definitions"][r.substr(prefix.size())];
    INFO(r);
    REQUIRE(target.IsMap());
    walk(root, target, path, out, depth + 1);
  }
  for (const char* combine : {"allOf", "anyOf", "oneOf"}) {
    if (const YAML::Node list = node[combine]) {
      for (const auto& sub : list) walk(root, sub, path, out, depth + 1);
    }
  }
  if (const YAML::Node props = node["properties"]) {
    // additionalProperties: false everywhere, as the loader refuses unknown keys.
    INFO("schema object at \"" << path << "\"");
    CHECK(node["additionalProperties"].IsDefined());
    CHECK(node["additionalProperties"].as<std::string>() == "false");
    for (const auto& kv : props) {
      const std::string key = path.empty() ? kv.first.as<std::string>()
                                           : path + "." + kv.first.as<std::string>();
      out.insert(key);
      walk(root, kv.second, key, out, depth + 1);
    }
  }
  if (const YAML::Node items = node["items"]) walk(root, items, path + "[]", out, depth + 1);
}

std::set<std::string> schema_keys() {
  const YAML::Node root = YAML::LoadFile(kSchema);
  std::set<std::string> keys;
  walk(root, root, "", keys);
  return keys;
}

}  // namespace

TEST_CASE("config_keys() lists what the readers accept, nested sections included",
          "[config][schema]") {
  const auto v = config_keys();
  const std::set<std::string> keys(v.begin(), v.end());
  CHECK(keys.size() == v.size());  // sorted, no repeats
  for (const char* k :
       {"listeners", "listeners[].bind", "listeners[].tls.cert", "mqtt.max_inflight",
        "acl.rules[].access", "bridges[].topics[].pattern", "bridges[].queue.overflow",
        "bridges[].fallbacks", "http.bind", "http.token_file", "http.enabled",
        "sys_topics.interval", "dead_letter.max_rate", "log.levels.net", "log.levels.http",
        "io_threads"}) {
    INFO(k);
    CHECK(keys.count(k) == 1);
  }
  // Lists of values are leaves; unknown keys are not invented.
  CHECK(keys.count("listeners[].protocols[]") == 0);
  CHECK(keys.count("bridges[].fallbacks[]") == 0);
  CHECK(keys.count("log.levels.mqtt") == 0);
  // Every key sits under a key that is itself accepted.
  for (const auto& k : keys) {
    const auto cut = k.find_last_of('.');
    if (cut == std::string::npos) continue;
    std::string parent = k.substr(0, cut);
    if (parent.ends_with("[]")) parent.resize(parent.size() - 2);
    INFO(k);
    CHECK(keys.count(parent) == 1);
  }
}

TEST_CASE("the schema and the loader know the same keys", "[config][schema]") {
  const auto v = config_keys();
  const std::set<std::string> loader(v.begin(), v.end());
  const std::set<std::string> schema = schema_keys();
  std::string only_loader;
  std::string only_schema;
  for (const auto& k : loader) {
    if (!schema.count(k)) only_loader += " " + k;
  }
  for (const auto& k : schema) {
    if (!loader.count(k)) only_schema += " " + k;
  }
  INFO("accepted by the loader, missing from configs/tern.schema.json:" << only_loader);
  INFO("in configs/tern.schema.json, refused by the loader:" << only_schema);
  CHECK(only_loader.empty());
  CHECK(only_schema.empty());
  CHECK(loader.size() > 100);
}

TEST_CASE("the schema's walk finds keys through $ref, allOf and items", "[config][schema]") {
  // The walker itself, on a small schema, so a walker that saw nothing could not pass the
  // comparison above by accident.
  const YAML::Node root = YAML::Load(R"({
    "type": "object", "additionalProperties": false,
    "properties": {
      "a": {"allOf": [{"$ref": "#/definitions/ab"}]},
      "l": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                                       "properties": {"x": {"type": "string"}}}},
      "v": {"type": "array", "items": {"type": "string"}}
    },
    "definitions": {"ab": {"type": "object", "additionalProperties": false,
                           "properties": {"b": {"type": "integer"}}}}
  })");
  std::set<std::string> keys;
  walk(root, root, "", keys);
  CHECK(keys == std::set<std::string>{"a", "a.b", "l", "l[].x", "v"});
}
