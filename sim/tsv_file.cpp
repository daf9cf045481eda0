#include "sim/tsv_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace wa::sim {

std::vector<std::string_view> split_fields(std::string_view text, char sep, std::size_t max_fields) {
  std::vector<std::string_view> out;
  while (true) {
    const auto at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos || out.size() > max_fields) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

namespace {

// Calls row(fields, bad, removed) per record line; stops before a last line without '\n' when
// `torn_ok`, else refuses it as any other line would be judged.
TsvLogRead read_lines(const std::filesystem::path& path, std::size_t fields, bool log,
                      const std::function<void(const std::vector<std::string>& fields, const TsvError& bad,
                                               bool removed)>& row) {
  TsvLogRead out;
  std::ifstream in(path);
  if (!in) return out;
  out.exists = true;
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    const bool complete = !in.eof();
    out.bytes += line.size() + (complete ? 1 : 0);
    if (log && !complete) {
      out.torn_tail = !line.empty();
      break;
    }
    if (line.empty() || line[0] == '#') continue;
    const TsvError bad = [&](const std::string& why) {
      return std::runtime_error(path.string() + ":" + std::to_string(lineno) + ": " + why);
    };
    std::string_view text = line;
    const bool removed = log && text.rfind("-\t", 0) == 0;
    if (removed) text.remove_prefix(2);
    const auto pieces = split_fields(text, '\t', fields);
    const std::vector<std::string> f(pieces.begin(), pieces.end());
    if (f.size() != fields) throw bad("expected " + std::to_string(fields) + " tab-separated fields");
    row(f, bad, removed);
  }
  return out;
}

}  // namespace

void read_tsv(const std::filesystem::path& path, std::size_t fields,
              const std::function<void(const std::vector<std::string>& fields, const TsvError& bad)>& row) {
  read_lines(path, fields, false,
             [&](const std::vector<std::string>& f, const TsvError& bad, bool) { row(f, bad); });
}

TsvLogRead read_tsv_log(const std::filesystem::path& path, std::size_t fields,
                        const std::function<void(const std::vector<std::string>& fields, const TsvError& bad,
                                                 bool removed)>& row) {
  return read_lines(path, fields, true, row);
}

void write_private_file(const std::filesystem::path& path, const std::string& content) {
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  // fchmod too: O_CREAT's mode does not apply to a file left over from an earlier crash.
  bool ok = ::fchmod(fd, 0600) == 0;
  std::size_t off = 0;
  while (ok && off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      ok = false;
    else
      off += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp.string() + " to " + path.string() + ": " +
                             std::strerror(errno));
}

}  // namespace wa::sim
