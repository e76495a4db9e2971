// Loading: file -> text -> yaml-cpp tree -> Config -> cross-field checks, every error kept.
// This is the only place yaml-cpp may throw (while parsing); nothing escapes it.

#include "broker/config/config.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>

#include "broker/config/reader.hpp"
#include "broker/config/sections.hpp"

namespace tern::config {
namespace {

void finish_errors(std::vector<Error>& errors) {
  // File order reads best; errors with no line (from code) go last.
  std::stable_sort(errors.begin(), errors.end(), [](const Error& a, const Error& b) {
    const int la = a.line ? a.line : INT_MAX;
    const int lb = b.line ? b.line : INT_MAX;
    return la < lb;
  });
  if (errors.size() > kMaxErrors) {
    const std::size_t more = errors.size() - kMaxErrors;
    errors.resize(kMaxErrors);
    errors.push_back(Error{"", 0, 0, "... and " + std::to_string(more) + " more errors"});
  }
}

// YAML forbids tabs in indentation, and yaml-cpp's message for them ("illegal map value")
// does not say so. Look at the reported line and the one before it.
std::string tab_hint(std::string_view text, int line) {
  int n = 1;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    if (n == line - 1 || n == line) {
      const std::string_view l = text.substr(start, end - start);
      const std::size_t indent = l.find_first_not_of(" \t");
      if (l.substr(0, indent).find('\t') != std::string_view::npos) {
        return " (tabs are not allowed in YAML indentation; use spaces)";
      }
    }
    if (n >= line) break;
    start = end + 1;
    ++n;
  }
  return "";
}

// Records where each document starts; ignores everything else.
class DocumentStarts final : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark& mark) override { marks.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::string format_error(const Error& e, std::string_view source) {
  std::string out(source);
  // Appended piecewise: GCC 12 -O2 misreports `":" + std::string&&` under -Wrestrict.
  if (e.line > 0) {
    out += ':';
    out += std::to_string(e.line);
  }
  if (e.line > 0 && e.column > 0) {
    out += ':';
    out += std::to_string(e.column);
  }
  out += ": ";
  if (!e.path.empty()) out += e.path + ": ";
  out += e.message;
  return out;
}

std::string LoadResult::error_report() const {
  std::string out;
  for (const auto& e : errors) {
    out += format_error(e, source);
    out += '\n';
  }
  return out;
}

Config defaults() { return Config{}; }

LoadResult load_string(std::string_view text, std::string_view name) {
  LoadResult r;
  r.source = std::string(name);
  detail::Diagnostics d;
  if (text.size() > kMaxFileBytes) {
    d.error("", 0, "file is larger than " + format_size(kMaxFileBytes) + "; not a configuration");
    r.errors = std::move(d.errors());
    return r;
  }
  Config c = defaults();
  try {
    const std::string owned(text);
    // Never YAML::LoadAll: in yaml-cpp 0.7 it loops forever, allocating until the process
    // dies, on input as small as "," (jbeder/yaml-cpp#1040, fixed upstream by PR #1319):
    // the parser hands back the same empty document without consuming the bad token.
    // Count documents with a bounded loop that notices a parser that stopped advancing,
    // then build the single document with Load().
    std::istringstream in(owned);
    YAML::Parser parser(in);
    DocumentStarts starts;
    while (starts.marks.size() < 2 && parser.HandleNextDocument(starts)) {
    }
    // A second document that does not open with "---" or a directive is yaml-cpp giving up
    // mid-document (same position: the endless-loop case), not a real second document.
    const auto opens_document = [&](const YAML::Mark& m) {
      const std::string_view rest = std::string_view(owned).substr(
          std::min(owned.size(), static_cast<std::size_t>(std::max(m.pos, 0))));
      return rest.starts_with("---") || rest.starts_with("%");
    };
    if (starts.marks.size() == 2 &&
        (starts.marks[1].pos == starts.marks[0].pos || !opens_document(starts.marks[1]))) {
      const YAML::Mark& m = starts.marks[1];
      const std::size_t pos = static_cast<std::size_t>(std::max(m.pos, 0));
      std::string what = "YAML syntax error: unexpected ";
      if (pos < owned.size()) {
        what += '\'';
        what += owned[pos];
        what += '\'';
      } else {
        what += "end of file";
      }
      d.error("", std::max(m.line, 0) + 1, what, std::max(m.column, 0) + 1);
    } else if (starts.marks.size() == 2) {
      d.error("", std::max(starts.marks[1].line, 0) + 1,
              "only one YAML document is allowed (found a second)");
    } else {
      detail::read_config(YAML::Load(owned), d, c);
    }
  } catch (const YAML::DeepRecursion& e) {
    d.error("", e.mark.line >= 0 ? e.mark.line + 1 : 0,
            "YAML syntax error: nesting deeper than " + std::to_string(e.depth()) +
                " levels; not a configuration",
            e.mark.column >= 0 ? e.mark.column + 1 : 0);
  } catch (const YAML::Exception& e) {
    // ParserException (syntax, including DeepRecursion) carries a mark; others may not.
    const int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    const int col = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    d.error("", line, "YAML syntax error: " + e.msg + tab_hint(text, line), col);
  } catch (const std::exception& e) {
    d.error("", 0, std::string("cannot read the YAML: ") + e.what());
  }
  // Cross-field rules only make sense once every value read cleanly.
  if (d.empty()) detail::check_config(c, d);
  if (d.empty()) {
    r.config = std::move(c);
  } else {
    r.errors = std::move(d.errors());
    finish_errors(r.errors);
  }
  return r;
}

LoadResult load_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  std::string text;
  int err = 0;
  if (!f) {
    err = errno;
  } else {
    char buf[16384];
    std::size_t n = 0;
    // Read one byte past the cap so an oversized file is recognised, never slurped whole.
    while (text.size() <= kMaxFileBytes && (n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
      text.append(buf, n);
    }
    if (std::ferror(f.get())) err = errno ? errno : EIO;
  }
  if (err != 0) {
    LoadResult r;
    r.source = path;
    r.errors.push_back(Error{"", 0, 0, std::string("cannot read file: ") + std::strerror(err)});
    return r;
  }
  return load_string(text, path);
}

std::vector<Error> validate(const Config& c) {
  detail::Diagnostics d;
  detail::check_config(c, d);
  finish_errors(d.errors());
  return std::move(d.errors());
}

}  // namespace tern::config
