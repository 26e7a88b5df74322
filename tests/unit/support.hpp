// Helpers shared by the unit tests: the recorded llama-server fixtures, UTF-8 building and
// temporary directories.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace llmb::test {

// A fresh directory under /tmp, removed with everything in it at the end of the test (also what
// a test made unreadable or unwritable).
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::string tmpl = "/tmp/llmb-unit-XXXXXX";
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        namespace fs = std::filesystem;
        std::error_code ec;
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
        for (auto it = fs::recursive_directory_iterator(path, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
            fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
        }
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

// A file of the recorded llama-server fixtures (tests/data/llama-server), whole.
inline std::string read_fixture(const std::string& file_name) {
    const std::string path = std::string(LLMB_TRANSCRIPTS_DIR) + "/" + file_name;
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A recorded response: status line, headers, blank line, body.
inline std::string read_transcript(const std::string& name) {
    return read_fixture(name + ".response.txt");
}

// The body of a recorded response: what follows the blank line after the headers.
inline std::string transcript_body(const std::string& name) {
    const std::string raw = read_transcript(name);
    const std::size_t end = raw.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    return raw.substr(end + 4);
}

// UTF-8 encoding of any value below 2^21, including surrogates (CESU-style), so that tests can
// also build sequences a decoder must refuse.
inline std::string encode_utf8(std::uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
        s += static_cast<char>(cp);
    } else if (cp < 0x800) {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        s += static_cast<char>(0xE0 | (cp >> 12));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        s += static_cast<char>(0xF0 | (cp >> 18));
        s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
}

}  // namespace llmb::test
