// A strict reader of Prometheus text format 0.0.4 for the ops tests: samples with their
// family (from the preceding # TYPE), labels unescaped, and a list of format errors.
#pragma once

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace tern::ops::test {

struct Sample {
  std::string name;
  std::string family;  // the # TYPE it belongs to
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Parsed {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> helps;
  std::vector<Sample> samples;
  std::vector<std::string> errors;

  // The value of the series, or -1 when absent.
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {})
      const {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
    return -1;
  }
};

inline bool belongs(const std::string& name, const std::string& family, const std::string& type) {
  if (name == family) return true;
  if (type != "histogram" && type != "summary") return false;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (name == family + suffix) return true;
  }
  return false;
}

inline Parsed parse_prometheus(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  std::string family;  // current # TYPE family
  if (!text.empty() && text.back() != '\n') p.errors.push_back("no final line feed");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      const auto sp = line.find(' ', 7);
      if (sp == std::string::npos) { p.errors.push_back("bad HELP: " + line); continue; }
      if (!p.helps.emplace(line.substr(7, sp - 7), line.substr(sp + 1)).second)
        p.errors.push_back("HELP twice: " + line);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
          type != "untyped")
        p.errors.push_back("bad TYPE: " + line);
      if (!p.types.emplace(name, type).second) p.errors.push_back("TYPE twice: " + line);
      if (p.helps.count(name) == 0) p.errors.push_back("TYPE without HELP before: " + line);
      family = name;
      continue;
    }
    if (line[0] == '#') continue;
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') s.name += line[i++];
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string key;
        while (i < line.size() && line[i] != '=') key += line[i++];
        if (i + 1 >= line.size() || line[i + 1] != '"') { p.errors.push_back("bad label: " + line); break; }
        i += 2;
        std::string val;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') { closed = true; break; }
          if (c == '\\' && i < line.size()) {
            const char e = line[i++];
            if (e == 'n') val += '\n';
            else if (e == '\\' || e == '"') val += e;
            else p.errors.push_back("bad escape: " + line);
          } else {
            val += c;
          }
        }
        if (!closed) { p.errors.push_back("unclosed label: " + line); break; }
        s.labels[key] = val;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') { p.errors.push_back("unclosed labels: " + line); continue; }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') { p.errors.push_back("no value: " + line); continue; }
    const std::string v = line.substr(i + 1);
    char* end = nullptr;
    if (v == "+Inf") s.value = HUGE_VAL;
    else if (v == "-Inf") s.value = -HUGE_VAL;
    else {
      s.value = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0') p.errors.push_back("bad value: " + line);
    }
    if (family.empty() || !belongs(s.name, family, p.types[family])) {
      p.errors.push_back("sample outside its family: " + line);
    } else {
      s.family = family;
    }
    p.samples.push_back(std::move(s));
  }
  return p;
}

}  // namespace tern::ops::test
