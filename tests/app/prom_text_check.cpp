#include "prom_text_check.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace wa::test {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

std::string key_of(const std::string& name, Labels labels) {
  std::sort(labels.begin(), labels.end());
  std::string k = name + "{";
  for (const auto& [n, v] : labels) k += n + "=\"" + v + "\",";
  return k + "}";
}

double parse_value(const std::string& s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  std::size_t pos = 0;
  const double d = std::stod(s, &pos);
  if (pos != s.size()) throw std::invalid_argument("bad value '" + s + "'");
  return d;
}

Sample parse_sample(const std::string& line) {
  Sample s;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const auto eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"')
        throw std::invalid_argument("bad label in '" + line + "'");
      std::string lname = line.substr(i, eq - i);
      std::string lval;
      std::size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) ++j;
        lval += line[j];
      }
      if (j >= line.size()) throw std::invalid_argument("unterminated label value in '" + line + "'");
      s.labels.emplace_back(std::move(lname), std::move(lval));
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) throw std::invalid_argument("unterminated labels in '" + line + "'");
    ++i;
  }
  std::istringstream rest(line.substr(i));
  std::string v;
  rest >> v;
  s.value = parse_value(v);
  return s;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

std::vector<std::string> check_exposition(const std::string& text) {
  std::vector<std::string> problems;
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> seen;
  std::vector<Sample> samples;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      if (!types.emplace(name, type).second) problems.push_back("TYPE given twice for " + name);
      continue;
    }
    if (line[0] == '#') continue;
    try {
      Sample s = parse_sample(line);
      if (!seen.insert(key_of(s.name, s.labels)).second)
        problems.push_back("duplicate series " + key_of(s.name, s.labels) + " (line " + std::to_string(lineno) + ")");
      samples.push_back(std::move(s));
    } catch (const std::exception& e) {
      problems.push_back("line " + std::to_string(lineno) + ": " + e.what());
    }
  }

  for (const auto& [family, type] : types) {
    if (type != "histogram") continue;
    // Per label set (without le): buckets by bound, sum, count.
    struct Series {
      std::vector<std::pair<double, double>> buckets;
      bool has_sum = false;
      bool has_count = false;
      double count = 0;
    };
    std::map<std::string, Series> series;
    for (const auto& s : samples) {
      if (s.name == family + "_bucket") {
        Labels rest;
        double le = NAN;
        for (const auto& l : s.labels) {
          if (l.first == "le") le = parse_value(l.second);
          else rest.push_back(l);
        }
        if (std::isnan(le)) {
          problems.push_back(family + "_bucket sample without le");
          continue;
        }
        series[key_of(family, rest)].buckets.emplace_back(le, s.value);
      } else if (s.name == family + "_sum") {
        series[key_of(family, s.labels)].has_sum = true;
      } else if (s.name == family + "_count") {
        auto& se = series[key_of(family, s.labels)];
        se.has_count = true;
        se.count = s.value;
      }
    }
    if (series.empty()) problems.push_back("histogram " + family + " has no samples");
    for (auto& [k, se] : series) {
      std::sort(se.buckets.begin(), se.buckets.end());
      if (se.buckets.empty() || !std::isinf(se.buckets.back().first))
        problems.push_back("histogram " + k + " has no le=\"+Inf\" bucket");
      if (!se.has_sum) problems.push_back("histogram " + k + " has no _sum");
      if (!se.has_count) problems.push_back("histogram " + k + " has no _count");
      for (std::size_t i = 1; i < se.buckets.size(); ++i)
        if (se.buckets[i].second < se.buckets[i - 1].second)
          problems.push_back("histogram " + k + " buckets are not cumulative");
      if (!se.buckets.empty() && std::isinf(se.buckets.back().first) && se.has_count &&
          se.buckets.back().second != se.count)
        problems.push_back("histogram " + k + " +Inf bucket differs from _count");
    }
  }
  for (const auto& s : samples) {
    const bool typed = types.count(s.name) != 0 ||
                       ((ends_with(s.name, "_bucket") || ends_with(s.name, "_sum") || ends_with(s.name, "_count")) &&
                        types.count(s.name.substr(0, s.name.rfind('_'))) != 0);
    if (!typed) problems.push_back("sample " + s.name + " has no TYPE");
  }
  return problems;
}

}  // namespace wa::test
