#include "sim/pending_queue.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "sim/tsv_file.h"

namespace wa::sim {
namespace {

constexpr std::uintmax_t kCompactSlack = 4u << 20;

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  while (true) {
    auto tab = line.find('\t');
    out.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) break;
    line.remove_prefix(tab + 1);
    if (out.size() > 6) break;  // more fields than any record has: refused by the caller
  }
  return out;
}

std::optional<std::uint64_t> digits(std::string_view s, std::size_t max_len) {
  if (s.empty() || s.size() > max_len ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  return v;
}

std::optional<std::pair<std::uint64_t, std::uint32_t>> parse_device(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto user = digits(s.substr(0, colon), 15);
  auto dev = digits(s.substr(colon + 1), 5);
  if (!user || !dev || *dev > 65535) return std::nullopt;
  return std::pair<std::uint64_t, std::uint32_t>{*user, static_cast<std::uint32_t>(*dev)};
}

bool valid_id(std::string_view id, const QueueLimits& lim) {
  return !id.empty() && id.size() <= lim.max_id_bytes && id.find_first_of("\t\n\r") == std::string_view::npos;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string device_text(const std::pair<std::uint64_t, std::uint32_t>& d) {
  return std::to_string(d.first) + ":" + std::to_string(d.second);
}

std::string add_line(const PendingQueue::DeviceKey& d, const PendingQueue::Item& it) {
  std::string line = "a\t" + device_text(d) + "\t" + it.cls + "\t" + it.id + "\t";
  line += wa::crypto::to_hex(it.stanza);
  if (!it.origin.empty()) line += "\t" + it.origin;
  line += '\n';
  return line;
}

// "<user>:<device>" optionally followed by "/<type>" (a receipt type: letters, '-' or '_').
bool valid_origin(std::string_view o) {
  const auto slash = o.find('/');
  if (!parse_device(o.substr(0, slash))) return false;
  if (slash == std::string_view::npos) return true;
  const auto type = o.substr(slash + 1);
  return type.size() <= 32 && std::all_of(type.begin(), type.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
         });
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace

std::string queue_origin(std::pair<std::uint64_t, std::uint32_t> sender, const std::string* receipt_type) {
  std::string o = device_text(sender);
  if (receipt_type) o += "/" + *receipt_type;
  return o;
}

bool origin_matches(std::string_view origin, std::string_view acked) {
  return origin.empty() || acked.empty() || origin == acked;
}

std::vector<QueueRecord> parse_queue_log(std::string_view text, const QueueLimits& lim) {
  std::vector<QueueRecord> out;
  std::size_t lineno = 0;
  const std::size_t max_line = 2 * lim.max_stanza_bytes + lim.max_id_bytes + 64;
  while (!text.empty()) {
    ++lineno;
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos) break;  // torn last line: the append did not finish
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    auto bad = [&](const std::string& why) {
      return QueueLogError("line " + std::to_string(lineno) + ": " + why);
    };
    if (line.size() > max_line) throw bad("line too long");
    if (line.empty() || line[0] == '#') continue;
    const auto f = split_tabs(line);
    QueueRecord r;
    if (f[0] == "a" && (f.size() == 5 || f.size() == 6)) {
      r.op = QueueRecord::Op::add;
    } else if (f[0] == "d" && (f.size() == 4 || f.size() == 5)) {
      r.op = QueueRecord::Op::drop;
    } else if (f[0] == "c" && f.size() == 2) {
      r.op = QueueRecord::Op::clear;
    } else {
      throw bad("unknown record or wrong field count");
    }
    auto d = parse_device(f[1]);
    if (!d) throw bad("bad device");
    r.device = *d;
    if (r.op != QueueRecord::Op::clear) {
      if (f[2] != "message" && f[2] != "receipt") throw bad("bad class");
      if (!valid_id(f[3], lim)) throw bad("bad id");
      r.cls = std::string(f[2]);
      r.id = std::string(f[3]);
      const std::size_t origin_field = r.op == QueueRecord::Op::add ? 5 : 4;
      if (f.size() > origin_field) {
        if (!valid_origin(f[origin_field])) throw bad("bad origin");
        r.origin = std::string(f[origin_field]);
      }
    }
    if (r.op == QueueRecord::Op::add) {
      const auto hex = f[4];
      if (hex.empty() || hex.size() % 2 != 0 || hex.size() / 2 > lim.max_stanza_bytes)
        throw bad("bad stanza size");
      r.stanza.resize(hex.size() / 2);
      for (std::size_t i = 0; i < r.stanza.size(); ++i) {
        const int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) throw bad("stanza is not hex");
        r.stanza[i] = static_cast<std::uint8_t>(hi * 16 + lo);
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

PendingQueue::PendingQueue(const std::filesystem::path& state_dir, QueueLimits limits)
    : file_(state_dir / "queue.log"), limits_(limits) {
  // The router (and so this queue) may be built before anything else touched --state.
  std::error_code ec;
  if (std::filesystem::create_directories(state_dir, ec))
    std::filesystem::permissions(state_dir, std::filesystem::perms::owner_all, ec);
  if (ec) throw std::runtime_error("cannot create state dir " + state_dir.string() + ": " + ec.message());
  const auto old_file = state_dir / "queue.tsv";
  const bool import_old = !std::filesystem::exists(file_) && std::filesystem::exists(old_file);
  try {
    if (import_old) {
      read_tsv(old_file, 4, [&](const std::vector<std::string>& f, const TsvError& bad) {
        // Old files name devices by JID ("15550001:1@s.whatsapp.net", device 0 without ':').
        const auto at = f[0].find('@');
        std::string dev = f[0].substr(0, at);
        if (dev.find(':') == std::string::npos) dev += ":0";
        std::vector<QueueRecord> recs;
        try {
          recs = parse_queue_log("a\t" + dev + "\t" + f[1] + "\t" + f[2] + "\t" + f[3] + "\n", limits_);
        } catch (const QueueLogError& e) {
          throw bad(e.what());
        }
        for (auto& r : recs) apply(std::move(r));
      });
    } else {
      for (auto& r : parse_queue_log(read_file(file_), limits_)) apply(std::move(r));
    }
  } catch (const QueueLogError& e) {
    throw std::runtime_error(file_.string() + ": " + e.what());
  }
  compact();  // drops acked entries and a torn tail; opens the file for appending
  if (import_old) std::filesystem::remove(old_file);
}

PendingQueue::~PendingQueue() {
  if (fd_ >= 0) ::close(fd_);
}

void PendingQueue::apply(QueueRecord&& r) {
  switch (r.op) {
    case QueueRecord::Op::add:
      if (!push(r.device, Item{std::move(r.cls), std::move(r.id), std::move(r.stanza), std::move(r.origin)}))
        throw QueueLogError("more queued than the limits allow");
      return;
    case QueueRecord::Op::drop: drop(r.device, r.cls, r.id, r.origin); return;
    case QueueRecord::Op::clear: clear(r.device); return;
  }
}

bool PendingQueue::push(DeviceKey d, Item item) {
  auto& q = q_[d];
  if (q.size() >= limits_.max_per_device || total_ >= limits_.max_total) {
    if (q.empty()) q_.erase(d);
    return false;
  }
  const std::string line = add_line(d, item);
  live_bytes_ += line.size();
  ++total_;
  q.push_back(std::move(item));
  append(line);
  return true;
}

bool PendingQueue::drop(DeviceKey d, const std::string& cls, const std::string& id, const std::string& origin) {
  auto it = q_.find(d);
  if (it == q_.end()) return false;
  auto& q = it->second;
  bool changed = false;
  for (auto i = q.begin(); i != q.end();) {
    if (i->cls == cls && i->id == id && origin_matches(i->origin, origin)) {
      live_bytes_ -= std::min<std::uintmax_t>(live_bytes_, add_line(d, *i).size());
      --total_;
      i = q.erase(i);
      changed = true;
    } else {
      ++i;
    }
  }
  if (q.empty()) q_.erase(it);
  if (changed) append("d\t" + device_text(d) + "\t" + cls + "\t" + id + (origin.empty() ? "" : "\t" + origin) + "\n");
  return changed;
}

std::deque<PendingQueue::Item> PendingQueue::take(DeviceKey d) {
  std::deque<Item> out;
  auto it = q_.find(d);
  if (it == q_.end()) return out;
  out = std::move(it->second);
  q_.erase(it);
  for (const auto& i : out) live_bytes_ -= std::min<std::uintmax_t>(live_bytes_, add_line(d, i).size());
  total_ -= out.size();
  append("c\t" + device_text(d) + "\n");
  return out;
}

void PendingQueue::clear(DeviceKey d) {
  if (q_.count(d)) (void)take(d);
}

const std::deque<PendingQueue::Item>* PendingQueue::items(DeviceKey d) const {
  auto it = q_.find(d);
  return it == q_.end() ? nullptr : &it->second;
}

std::size_t PendingQueue::size(DeviceKey d) const {
  auto it = q_.find(d);
  return it == q_.end() ? 0 : it->second.size();
}

void PendingQueue::append(const std::string& line) {
  if (fd_ < 0) return;  // still loading: compact() writes the result
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("cannot append to " + file_.string() + ": " + std::strerror(errno));
    off += static_cast<std::size_t>(n);
  }
  file_bytes_ += line.size();
  if (file_bytes_ > 2 * live_bytes_ + kCompactSlack) compact();
}

void PendingQueue::compact() {
  std::string out = "# wasim pending queue log: a(dd)/d(rop)/c(lear) records, see sim/pending_queue.h\n";
  for (const auto& [d, q] : q_)
    for (const auto& i : q) out += add_line(d, i);
  write_private_file(file_, out);
  file_bytes_ = out.size();
  open_for_append();
}

void PendingQueue::open_for_append() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0)
    throw std::runtime_error("cannot open " + file_.string() + " for appending: " + std::strerror(errno));
}

}  // namespace wa::sim
