#include "daemon/config/config_yaml.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <sstream>
#include <utility>

namespace llmb::config_yaml {

namespace {

enum class number_kind { none, integer, floating };

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// Classifies text by the YAML 1.2 core schema's decimal number forms:
// [-+]?[0-9]+ and [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
number_kind classify_number(std::string_view s) noexcept {
    std::size_t i = 0;
    if (i < s.size() && (s[i] == '-' || s[i] == '+'))
        ++i;
    const std::size_t int_start = i;
    while (i < s.size() && is_digit(s[i]))
        ++i;
    const bool int_digits = i > int_start;
    if (i == s.size())
        return int_digits ? number_kind::integer : number_kind::none;
    bool frac_digits = false;
    if (s[i] == '.') {
        ++i;
        const std::size_t frac_start = i;
        while (i < s.size() && is_digit(s[i]))
            ++i;
        frac_digits = i > frac_start;
    }
    if (!int_digits && !frac_digits)
        return number_kind::none;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '-' || s[i] == '+'))
            ++i;
        const std::size_t exp_start = i;
        while (i < s.size() && is_digit(s[i]))
            ++i;
        if (i == exp_start)
            return number_kind::none;
    }
    return i == s.size() ? number_kind::floating : number_kind::none;
}

std::string_view without_plus(std::string_view s) noexcept {
    return !s.empty() && s.front() == '+' ? s.substr(1) : s;
}

// Parses a text of classify_number's integer form; nullopt when it does not fit in 64 bits.
std::optional<std::int64_t> to_int64(std::string_view s) noexcept {
    s = without_plus(s);
    std::int64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
        return std::nullopt;
    return v;
}

std::optional<double> to_double(std::string_view s) noexcept {
    s = without_plus(s);
    double v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
        return std::nullopt;
    return v;
}

// Quoted ("...") or tagged !!str: a string whatever it looks like.
bool is_string_scalar(const YAML::Node& node) {
    const std::string& tag = node.Tag();
    return tag == "!" || tag == "tag:yaml.org,2002:str";
}

bool is_plain_scalar(const YAML::Node& node) {
    return node.IsScalar() && !is_string_scalar(node);
}

std::string format_number(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
}

YAML::Mark mark_of(const YAML::Node& node, const YAML::Mark& fallback) {
    if (!node.IsDefined() || node.IsNull())
        return fallback;
    const YAML::Mark m = node.Mark();
    return m.is_null() ? fallback : m;
}

std::string join(const std::vector<std::string_view>& words) {
    std::string out;
    for (const auto w : words) {
        if (!out.empty())
            out += ", ";
        out += w;
    }
    return out;
}

int to_one_based(int zero_based) noexcept {
    return zero_based >= 0 ? zero_based + 1 : 0;
}

}  // namespace

namespace {

// Control bytes written as \xNN: whatever a file holds (and yaml-cpp quotes from it in its own
// messages), an error is one line.
std::string one_line(std::string text) {
    if (std::none_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }))
        return text;
    std::string out;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7F) {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += ch;
        }
    }
    return out;
}

}  // namespace

void error_list::add(const YAML::Mark& at, std::string path, std::string message) {
    config_error e;
    e.file = file_;
    e.line = to_one_based(at.line);
    e.column = e.line == 0 ? 0 : to_one_based(at.column);
    e.path = one_line(std::move(path));
    e.message = one_line(std::move(message));
    errors_.push_back(std::move(e));
}

std::vector<config_error> error_list::take_in_file_order() {
    auto position = [](const config_error& e) {
        return std::pair(e.line == 0 ? INT_MAX : e.line, e.column);
    };
    std::stable_sort(errors_.begin(), errors_.end(),
                     [&](const auto& a, const auto& b) { return position(a) < position(b); });
    return std::exchange(errors_, {});
}

located document(const YAML::Node& root) {
    return located{root, mark_of(root, YAML::Mark()), ""};
}

std::string in_quotes(std::string_view text) {
    constexpr std::size_t max_shown = 60;
    std::string out = "\"";
    std::size_t shown = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        // Stop at a character boundary once enough is shown.
        if (shown >= max_shown && (c & 0xC0) != 0x80) {
            out += "...";
            break;
        }
        ++shown;
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7F) {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string describe(const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull())
        return "nothing";
    if (node.IsMap())
        return "a map";
    if (node.IsSequence())
        return "a list";
    if (is_string_scalar(node))
        return "the quoted string " + in_quotes(node.Scalar());
    return in_quotes(node.Scalar());
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Three rows of the optimal string alignment table.
    std::vector<std::size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                cur[j] = std::min(cur[j], before[j - 2] + 1);
        }
        std::swap(before, prev);
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string_view nearest_key(std::string_view key, const std::vector<std::string_view>& allowed) {
    const std::size_t limit = key.size() <= 3 ? 1 : key.size() <= 6 ? 2 : 3;
    std::string_view best;
    std::size_t best_distance = limit + 1;
    for (const auto candidate : allowed) {
        const std::size_t d = edit_distance(key, candidate);
        if (d < best_distance && d < key.size()) {
            best = candidate;
            best_distance = d;
        }
    }
    return best;
}

std::optional<std::string> read_string(error_list& errors, const located& at) {
    if (!at.node.IsDefined() || at.node.IsNull())
        return std::string();
    if (at.node.IsScalar())
        return at.node.Scalar();
    errors.add(at.mark, at.path, "must be a string, got " + describe(at.node));
    return std::nullopt;
}

std::optional<bool> read_bool(error_list& errors, const located& at) {
    if (is_plain_scalar(at.node)) {
        const std::string& s = at.node.Scalar();
        if (s == "true" || s == "True" || s == "TRUE")
            return true;
        if (s == "false" || s == "False" || s == "FALSE")
            return false;
    }
    errors.add(at.mark, at.path, "must be true or false, got " + describe(at.node));
    return std::nullopt;
}

// The error for a value that is not a plain number: quoted numbers get a hint.
static void report_not_a_number(error_list& errors, const located& at, const std::string& wanted,
                                bool plain) {
    std::string message = wanted + ", got " + describe(at.node);
    if (!plain && at.node.IsScalar() && classify_number(at.node.Scalar()) != number_kind::none)
        message += " (write numbers without quotes)";
    errors.add(at.mark, at.path, std::move(message));
}

std::optional<std::int64_t> read_integer(error_list& errors, const located& at, std::int64_t lo,
                                         std::int64_t hi, bool zero_allowed) {
    std::string wanted = "must be ";
    if (zero_allowed)
        wanted += "0 or ";
    wanted += "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    const bool plain = is_plain_scalar(at.node);
    if (plain && classify_number(at.node.Scalar()) == number_kind::integer) {
        const auto v = to_int64(at.node.Scalar());
        if (v && ((*v >= lo && *v <= hi) || (zero_allowed && *v == 0)))
            return v;
        errors.add(at.mark, at.path, wanted + ", got " + at.node.Scalar());
        return std::nullopt;
    }
    report_not_a_number(errors, at, wanted, plain);
    return std::nullopt;
}

std::optional<double> read_number(error_list& errors, const located& at, double lo, double hi) {
    const std::string wanted =
        "must be a number from " + format_number(lo) + " to " + format_number(hi);
    const bool plain = is_plain_scalar(at.node);
    if (plain && classify_number(at.node.Scalar()) != number_kind::none) {
        const auto v = to_double(at.node.Scalar());
        if (v && *v >= lo && *v <= hi)
            return v;
        errors.add(at.mark, at.path, wanted + ", got " + at.node.Scalar());
        return std::nullopt;
    }
    report_not_a_number(errors, at, wanted, plain);
    return std::nullopt;
}

std::optional<std::string> read_choice(error_list& errors, const located& at,
                                       const std::vector<std::string_view>& choices) {
    if (at.node.IsScalar()) {
        const std::string& s = at.node.Scalar();
        if (std::find(choices.begin(), choices.end(), s) != choices.end())
            return s;
    }
    errors.add(at.mark, at.path, "must be one of " + join(choices) + ", got " + describe(at.node));
    return std::nullopt;
}

std::optional<std::vector<located>> read_list(error_list& errors, const located& at,
                                              std::string_view what) {
    std::vector<located> items;
    if (!at.node.IsDefined() || at.node.IsNull())
        return items;
    if (!at.node.IsSequence()) {
        errors.add(at.mark, at.path, "must be " + std::string(what) + ", got " + describe(at.node));
        return std::nullopt;
    }
    std::size_t i = 0;
    for (const auto& item : at.node) {
        items.push_back(
            located{item, mark_of(item, at.mark), at.path + "[" + std::to_string(i) + "]"});
        ++i;
    }
    return items;
}

nlohmann::ordered_json to_json(const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull())
        return nullptr;
    if (node.IsSequence()) {
        auto out = nlohmann::ordered_json::array();
        for (const auto& item : node)
            out.push_back(to_json(item));
        return out;
    }
    if (node.IsMap()) {
        auto out = nlohmann::ordered_json::object();
        for (const auto& kv : node) {
            const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string();
            out[key] = to_json(kv.second);
        }
        return out;
    }
    const std::string& s = node.Scalar();
    if (is_string_scalar(node))
        return s;
    if (s == "~" || s == "null" || s == "Null" || s == "NULL")
        return nullptr;
    if (s == "true" || s == "True" || s == "TRUE")
        return true;
    if (s == "false" || s == "False" || s == "FALSE")
        return false;
    switch (classify_number(s)) {
        case number_kind::integer:
            if (const auto v = to_int64(s))
                return *v;
            [[fallthrough]];
        case number_kind::floating:
            if (const auto d = to_double(s))
                return *d;
            return s;
        case number_kind::none:
            break;
    }
    return s;
}

bool unique_values::check(const std::string& value, const YAML::Mark& at, const std::string& path) {
    for (const auto& [v, first_path] : seen_) {
        if (v == value) {
            errors_.add(
                at, path,
                "duplicate " + what_ + " " + in_quotes(value) + " (also " + first_path + ")");
            return false;
        }
    }
    seen_.emplace_back(value, path);
    return true;
}

map_reader::map_reader(error_list& errors, const located& at, std::vector<std::string_view> keys)
    : errors_(errors), at_(at) {
    if (!at.node.IsDefined() || at.node.IsNull()) {
        is_map_ = true;
        return;
    }
    if (!at.node.IsMap()) {
        errors.add(at.mark, at.path,
                   "must be a map with the keys " + join(keys) + ", got " + describe(at.node));
        return;
    }
    is_map_ = true;
    for (const auto& kv : at.node) {
        const YAML::Mark km = mark_of(kv.first, at.mark);
        if (!kv.first.IsScalar()) {
            errors.add(km, at.path, "a key must be a word, got " + describe(kv.first));
            continue;
        }
        const std::string& key = kv.first.Scalar();
        const std::string path = path_of(key);
        if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
            std::string message = "unknown key";
            if (const auto near = nearest_key(key, keys); !near.empty())
                message += "; did you mean " + std::string(near) + "?";
            errors.add(km, path, message + " (allowed: " + join(keys) + ")");
            continue;
        }
        const auto first = std::find_if(entries_.begin(), entries_.end(),
                                        [&](const entry& e) { return e.key == key; });
        if (first != entries_.end()) {
            errors.add(km, path,
                       "key given twice (first on line " +
                           std::to_string(to_one_based(first->key_mark.line)) + ")");
            continue;
        }
        entries_.push_back(entry{key, km, located{kv.second, mark_of(kv.second, km), path}});
    }
}

std::optional<located> map_reader::get(std::string_view key) const {
    for (const auto& e : entries_)
        if (e.key == key)
            return e.value;
    return std::nullopt;
}

YAML::Mark map_reader::key_mark(std::string_view key) const {
    for (const auto& e : entries_)
        if (e.key == key)
            return e.key_mark;
    return at_.mark;
}

// A key that is not a plain word (an unknown key can be anything, line breaks included) is
// quoted and escaped, so that every error stays one line.
std::string map_reader::path_of(std::string_view key) const {
    const bool plain =
        !key.empty() && key.size() <= 64 && std::all_of(key.begin(), key.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-';
        });
    const std::string shown = plain ? std::string(key) : in_quotes(key);
    return at_.path.empty() ? shown : at_.path + "." + shown;
}

void map_reader::read(std::string_view key, std::string& out) const {
    if (const auto v = get(key))
        if (auto s = read_string(errors_, *v))
            out = std::move(*s);
}

void map_reader::read(std::string_view key, bool& out) const {
    if (const auto v = get(key))
        if (const auto b = read_bool(errors_, *v))
            out = *b;
}

void map_reader::read_number(std::string_view key, double& out, double lo, double hi) const {
    if (const auto v = get(key))
        if (const auto d = config_yaml::read_number(errors_, *v, lo, hi))
            out = *d;
}

void map_reader::read_number(std::string_view key, std::optional<double>& out, double lo,
                             double hi) const {
    const auto v = get(key);
    if (!v || v->node.IsNull())
        return;
    if (const auto d = config_yaml::read_number(errors_, *v, lo, hi))
        out = *d;
}

void map_reader::read_ms(std::string_view key, std::chrono::milliseconds& out, std::int64_t lo,
                         std::int64_t hi, bool zero_allowed) const {
    if (const auto v = integer(key, lo, hi, zero_allowed))
        out = std::chrono::milliseconds(*v);
}

std::optional<std::int64_t> map_reader::integer(std::string_view key, std::int64_t lo,
                                                std::int64_t hi, bool zero_allowed) const {
    const auto v = get(key);
    if (!v)
        return std::nullopt;
    return read_integer(errors_, *v, lo, hi, zero_allowed);
}

}  // namespace llmb::config_yaml
