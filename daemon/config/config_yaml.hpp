// Helpers for walking a YAML tree into typed values: every problem becomes a config_error with
// the position and key path of the node it is about, and reading goes on after an error so that
// one pass finds them all. Used only by the configuration parser.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "daemon/config/config.hpp"

namespace llmb::config_yaml {

// Errors found so far, for one file.
class error_list {
public:
    explicit error_list(std::string file) : file_(std::move(file)) {}

    void add(const YAML::Mark& at, std::string path, std::string message);
    bool empty() const noexcept { return errors_.empty(); }
    // The errors in file order (by line, then column; the order found among equals).
    std::vector<config_error> take_in_file_order();

private:
    std::string file_;
    std::vector<config_error> errors_;
};

// A node together with where it is and its key path.
struct located {
    YAML::Node node;
    YAML::Mark mark;   // the value's position; its key's when the value is empty
    std::string path;  // e.g. "backends[1].slots"
};

// The whole document as a located node (path "").
located document(const YAML::Node& root);

// "a map", "a list", "nothing", "\"text\"" or "the quoted string \"4\"": for messages.
std::string describe(const YAML::Node& node);
// text in double quotes, escaped, shortened when long.
std::string in_quotes(std::string_view text);
// Optimal string alignment distance (insertions, deletions, substitutions, transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);
// The allowed key nearest to key when it is close enough to be a typo; empty otherwise.
std::string_view nearest_key(std::string_view key, const std::vector<std::string_view>& allowed);

// Typed reading of one scalar. Each reports an error and returns nullopt when the node is not
// what is asked for. Numbers must be written plain (a quoted "4" is a string).
std::optional<std::string> read_string(error_list& errors, const located& at);
std::optional<bool> read_bool(error_list& errors, const located& at);
// An integer in lo..hi, or also 0 when zero_allowed.
std::optional<std::int64_t> read_integer(error_list& errors, const located& at, std::int64_t lo,
                                         std::int64_t hi, bool zero_allowed = false);
std::optional<double> read_number(error_list& errors, const located& at, double lo, double hi);
// One of the given words, compared exactly.
std::optional<std::string> read_choice(error_list& errors, const located& at,
                                       const std::vector<std::string_view>& choices);

// The items of a list; empty for an empty value; nullopt (reported) when it is not a list.
std::optional<std::vector<located>> read_list(error_list& errors, const located& at,
                                              std::string_view what = "a list");

// The YAML value as JSON: plain scalars are typed by the YAML 1.2 core schema (null, booleans,
// integers, floats), quoted ones are strings, maps become objects in file order.
nlohmann::ordered_json to_json(const YAML::Node& node);

// Values that must be unique within a list (names, prefixes): reports each repeat.
class unique_values {
public:
    unique_values(error_list& errors, std::string what) : errors_(errors), what_(std::move(what)) {}
    // False (reported) when value was seen before.
    bool check(const std::string& value, const YAML::Mark& at, const std::string& path);

private:
    error_list& errors_;
    std::string what_;                                       // e.g. "backend name"
    std::vector<std::pair<std::string, std::string>> seen_;  // value, path
};

// A map with a fixed set of keys. Construction reports a value that is not a map (an empty value
// counts as an empty map), keys that are not allowed (naming the nearest allowed one when it looks
// like a typo) and keys given twice.
class map_reader {
public:
    map_reader(error_list& errors, const located& at, std::vector<std::string_view> keys);

    bool is_map() const noexcept { return is_map_; }
    const located& where() const noexcept { return at_; }
    error_list& errors() const noexcept { return errors_; }
    // The value under key, when the key is present (its first occurrence).
    std::optional<located> get(std::string_view key) const;
    // The position of key itself (the map's when it is absent).
    YAML::Mark key_mark(std::string_view key) const;
    std::string path_of(std::string_view key) const;

    // Each leaves out unchanged when the key is absent or its value is wrong (reported).
    void read(std::string_view key, std::string& out) const;
    void read(std::string_view key, bool& out) const;
    void read_number(std::string_view key, double& out, double lo, double hi) const;
    // An empty value leaves it unset.
    void read_number(std::string_view key, std::optional<double>& out, double lo, double hi) const;
    void read_ms(std::string_view key, std::chrono::milliseconds& out, std::int64_t lo,
                 std::int64_t hi, bool zero_allowed = false) const;
    template <class T>
    void read_int(std::string_view key, T& out, std::int64_t lo, std::int64_t hi,
                  bool zero_allowed = false) const {
        if (auto v = integer(key, lo, hi, zero_allowed))
            out = static_cast<T>(*v);
    }
    // An empty value leaves it unset.
    template <class T>
    void read_int(std::string_view key, std::optional<T>& out, std::int64_t lo,
                  std::int64_t hi) const {
        const auto v = get(key);
        if (!v || v->node.IsNull())
            return;
        if (auto n = integer(key, lo, hi, false))
            out = static_cast<T>(*n);
    }

private:
    std::optional<std::int64_t> integer(std::string_view key, std::int64_t lo, std::int64_t hi,
                                        bool zero_allowed) const;

    struct entry {
        std::string key;
        YAML::Mark key_mark;
        located value;
    };

    error_list& errors_;
    located at_;
    bool is_map_ = false;
    std::vector<entry> entries_;  // allowed keys, first occurrences
};

}  // namespace llmb::config_yaml
