#include "daemon/requests/request_journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace llmb {

namespace fs = std::filesystem;

namespace {

int open_append(const std::string& path) {
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

request_journal::request_journal(std::size_t compact_min_bytes)
    : compact_min_bytes_(compact_min_bytes) {}

request_journal::~request_journal() {
    flush();
    if (fd_ >= 0)
        ::close(fd_);
}

void request_journal::fail(const std::string& what) {
    warnings_.push_back("in-flight journal " + path_ + ": " + what + ": " + std::strerror(errno) +
                        "; requests are no longer recorded");
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
    buffer_.clear();
}

std::vector<journal_entry> request_journal::open(const std::string& dir,
                                                 const std::string& file_name) {
    path_ = (fs::path(dir) / file_name).string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::string text;
    {
        std::ifstream in(path_, std::ios::binary);
        if (in) {
            std::ostringstream ss;
            ss << in.rdbuf();
            text = ss.str();
        }
    }
    auto r = replay_journal(text);
    if (r.bad_records != 0) {
        warnings_.push_back("in-flight journal " + path_ + ": " + std::to_string(r.bad_records) +
                            " unreadable record(s) skipped");
    }
    for (const auto& e : r.live) {
        live_[e.handle] = e;
        next_handle_ = std::max(next_handle_, e.handle + 1);
    }
    compact();  // opens the file
    return r.live;
}

std::uint64_t request_journal::begin(journal_entry e) {
    if (fd_ < 0)
        return 0;
    e.handle = next_handle_++;
    append_begin_record(buffer_, e);
    const auto h = e.handle;
    live_.emplace(h, std::move(e));
    return h;
}

void request_journal::note_seq(std::uint64_t handle, std::uint64_t next_seq) {
    auto it = live_.find(handle);
    if (fd_ < 0 || it == live_.end() || it->second.next_seq == next_seq)
        return;
    it->second.next_seq = next_seq;
    append_seq_record(buffer_, handle, next_seq);
}

void request_journal::ending(std::uint64_t handle, std::uint64_t ordinal) {
    if (fd_ < 0 || live_.count(handle) == 0)
        return;
    ending_.emplace_back(ordinal, handle);
}

void request_journal::sweep(std::uint64_t completed) {
    while (!ending_.empty() && ending_.front().first <= completed) {
        const auto handle = ending_.front().second;
        ending_.pop_front();
        if (live_.erase(handle) != 0 && fd_ >= 0)
            append_end_record(buffer_, handle);
    }
}

void request_journal::flush() {
    if (fd_ < 0 || buffer_.empty())
        return;
    if (!write_all(fd_, buffer_)) {
        fail("cannot write");
        return;
    }
    file_bytes_ += buffer_.size();
    buffer_.clear();
    // Bounded: the live entries take a fraction of what the file holds once it is this large.
    if (file_bytes_ > std::max(compact_min_bytes_, live_.size() * 1024))
        compact();
}

void request_journal::compact() {
    std::vector<journal_entry> entries;
    entries.reserve(live_.size());
    for (const auto& [h, e] : live_)
        entries.push_back(e);
    std::sort(entries.begin(), entries.end(),
              [](const journal_entry& a, const journal_entry& b) { return a.handle < b.handle; });
    const std::string snapshot = encode_journal_snapshot(entries);
    const std::string tmp = path_ + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail("cannot create " + tmp);
        return;
    }
    const bool ok = write_all(fd, snapshot);
    ::close(fd);
    if (!ok) {
        fail("cannot write " + tmp);
        return;
    }
    if (::rename(tmp.c_str(), path_.c_str()) != 0) {
        fail("cannot rename " + tmp);
        return;
    }
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = open_append(path_);
    if (fd_ < 0) {
        fail("cannot open");
        return;
    }
    buffer_.clear();
    file_bytes_ = snapshot.size();
}

}  // namespace llmb
