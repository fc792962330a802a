// Recordings searched as a terminal showed them (screen_search.hpp).
#include "jitgate/recording/screen_search.hpp"

#include <vterm.h>

#include <algorithm>
#include <boost/json.hpp>
#include <memory>
#include <unordered_map>

namespace jitgate {
namespace {

namespace json = boost::json;

struct VTermFree {
  void operator()(VTerm* vt) const { vterm_free(vt); }
};
using VTermPtr = std::unique_ptr<VTerm, VTermFree>;

constexpr int kMaxSide = 1000;

bool containsFolded(std::string_view hay, std::string_view needle) {
  auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                     [&](char a, char b) { return fold(a) == fold(b); }) != hay.end();
}

// One screen and what each of its rows showed when last read.
class Screen {
 public:
  Screen(int rows, int cols, std::string_view needle, std::vector<ScreenHit>& hits,
         const std::string& id, size_t limit)
      : vt_(vterm_new(rows, cols)), needle_(needle), hits_(hits), id_(id), limit_(limit) {
    if (!vt_) return;
    vterm_set_utf8(vt_.get(), 1);
    screen_ = vterm_obtain_screen(vt_.get());
    callbacks_.damage = [](VTermRect r, void* user) {
      static_cast<Screen*>(user)->damaged(r);
      return 1;
    };
    vterm_screen_set_callbacks(screen_, &callbacks_, this);
    vterm_screen_set_damage_merge(screen_, VTERM_DAMAGE_ROW);
    vterm_screen_enable_altscreen(screen_, 1);
    vterm_screen_reset(screen_, 1);
    resized(rows, cols);
  }
  bool ok() const { return vt_ != nullptr; }

  void write(double at, std::string_view bytes) {
    at_ = at;
    vterm_input_write(vt_.get(), bytes.data(), bytes.size());
    vterm_screen_flush_damage(screen_);
  }
  void resize(int rows, int cols) {
    vterm_set_size(vt_.get(), rows, cols);
    resized(rows, cols);
  }

 private:
  void resized(int rows, int cols) {
    rows_ = rows;
    cols_ = cols;
    shown_.resize(static_cast<size_t>(rows));
  }
  std::string row(int r) const {
    std::string text(static_cast<size_t>(cols_) * 4 + 4, '\0');
    VTermRect rect{r, r + 1, 0, cols_};
    size_t n = vterm_screen_get_text(screen_, text.data(), text.size(), rect);
    text.resize(std::min(n, text.size()));
    while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
    return text;
  }
  void damaged(VTermRect r) {
    for (int i = std::max(0, r.start_row); i < std::min(rows_, r.end_row); ++i) {
      std::string now = row(i);
      auto& before = shown_[static_cast<size_t>(i)];
      if (containsFolded(now, needle_) && !containsFolded(before, needle_)) {
        // A scroll re-draws rows that were already read: the same line one
        // row up (or more) is the old one moved, not news.
        auto seen = lastRow_.find(now);
        bool moved = seen != lastRow_.end() && seen->second > i;
        lastRow_[now] = i;
        if (!moved && hits_.size() < limit_) hits_.push_back(ScreenHit{id_, at_, i, now});
      }
      before = std::move(now);
    }
  }
  VTermPtr vt_;
  VTermScreen* screen_ = nullptr;
  VTermScreenCallbacks callbacks_{};
  std::string_view needle_;
  std::vector<ScreenHit>& hits_;
  const std::string& id_;
  size_t limit_;
  int rows_ = 0, cols_ = 0;
  double at_ = 0;
  std::vector<std::string> shown_;
  std::unordered_map<std::string, int> lastRow_;  // where each hit line was last seen
};

int side(const json::object& o, const char* key, int fallback) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_int64()) return fallback;
  auto n = v->as_int64();
  return n >= 1 && n <= kMaxSide ? static_cast<int>(n) : fallback;
}

}  // namespace

void searchScreen(std::string_view cast, const std::string& id, std::string_view needle,
                  size_t limit, std::vector<ScreenHit>& hits) {
  if (needle.empty() || hits.size() >= limit) return;
  size_t eol = cast.find('\n');
  boost::system::error_code ec;
  auto header = json::parse(cast.substr(0, eol), ec);
  if (ec || !header.is_object()) return;
  Screen screen(side(header.as_object(), "height", 24), side(header.as_object(), "width", 80),
                needle, hits, id, limit);
  if (!screen.ok()) return;
  while (eol != std::string_view::npos && hits.size() < limit) {
    size_t start = eol + 1;
    eol = cast.find('\n', start);
    auto line = cast.substr(start, eol == std::string_view::npos ? eol : eol - start);
    if (line.empty()) continue;
    auto ev = json::parse(line, ec);
    if (ec || !ev.is_array() || ev.as_array().size() != 3) continue;
    const auto& a = ev.as_array();
    if (!a[0].is_number() || !a[1].is_string() || !a[2].is_string()) continue;
    double at = a[0].to_number<double>();
    std::string_view type = a[1].as_string(), data = a[2].as_string();
    if (type == "o") {
      screen.write(at, data);
    } else if (type == "r") {
      auto x = data.find('x');
      int w = std::atoi(std::string(data.substr(0, x)).c_str());
      int h = x == std::string_view::npos ? 0 : std::atoi(std::string(data.substr(x + 1)).c_str());
      if (w >= 1 && w <= kMaxSide && h >= 1 && h <= kMaxSide) screen.resize(h, w);
    }
  }
}

}  // namespace jitgate
