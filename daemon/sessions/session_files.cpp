// Session files: atomic replacement, removal, reading and the scan of a state directory (see
// session_files.hpp).
#include "daemon/sessions/session_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <system_error>
#include <vector>

#include "daemon/sessions/session_codec.hpp"
#include "protocol/request.hpp"

namespace llmb {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view json_suffix = ".json";
constexpr std::string_view tmp_marker = ".tmp.";

std::string errno_text(int err) {
    return std::strerror(err);
}

fs::path session_dir(const std::string& state_dir, const session_key& key) {
    return fs::path(state_dir) / "sessions" / key.project / key.client;
}

// "<name>.tmp.<digits>": what an interrupted write leaves behind.
bool is_tmp_name(std::string_view name) {
    const auto pos = name.rfind(tmp_marker);
    if (pos == std::string_view::npos || pos == 0 || pos + tmp_marker.size() == name.size()) {
        return false;
    }
    const auto digits = name.substr(pos + tmp_marker.size());
    return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool fsync_dir(const fs::path& dir, std::string& why) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        why = "open " + dir.string() + ": " + errno_text(errno);
        return false;
    }
    const bool ok = ::fsync(fd) == 0;
    if (!ok) {
        why = "fsync " + dir.string() + ": " + errno_text(errno);
    }
    ::close(fd);
    return ok;
}

// Writes data to dir/name through dir/name.tmp.<pid>: the file named `name` is either the old
// or the new content, never a partial one.
bool write_atomically(const fs::path& dir, const std::string& name, std::string_view data,
                      bool sync, std::string& why) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        why = "create " + dir.string() + ": " + ec.message();
        return false;
    }
    const fs::path final_path = dir / name;
    const fs::path tmp_path = dir / (name + std::string(tmp_marker) + std::to_string(::getpid()));
    const int fd =
        ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        why = "open " + tmp_path.string() + ": " + errno_text(errno);
        return false;
    }
    const auto fail = [&](const char* what, int err) {
        why = std::string(what) + " " + tmp_path.string() + ": " + errno_text(err);
        ::unlink(tmp_path.c_str());
        return false;
    };
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            const int err = errno;
            ::close(fd);
            return fail("write", err);
        }
        done += static_cast<std::size_t>(n);
    }
    if (sync && ::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        return fail("fsync", err);
    }
    if (::close(fd) != 0) {
        return fail("close", errno);
    }
    if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
        return fail("rename", errno);
    }
    return !sync || fsync_dir(dir, why);
}

bool is_dir(const fs::directory_entry& e) {
    std::error_code ec;
    return e.is_directory(ec) && !e.is_symlink(ec);
}

}  // namespace

bool storable(const session_key& key) {
    return protocol::valid_name(key.project) && protocol::valid_name(key.client) &&
           protocol::valid_name(key.session);
}

std::string session_file_path(const std::string& state_dir, const session_key& key) {
    return (session_dir(state_dir, key) / (key.session + std::string(json_suffix))).string();
}

std::optional<std::string> save_session_file(const std::string& state_dir, const session_key& key,
                                             const session& value, bool sync) {
    std::string why;
    if (!write_atomically(session_dir(state_dir, key), key.session + std::string(json_suffix),
                          encode_session_file(key, value), sync, why)) {
        return "session " + key.project + "/" + key.client + "/" + key.session +
               " not saved: " + why;
    }
    return std::nullopt;
}

std::optional<std::string> remove_session_file(const std::string& state_dir, const session_key& key,
                                               bool sync) {
    const fs::path dir = session_dir(state_dir, key);
    const fs::path file = dir / (key.session + std::string(json_suffix));
    std::error_code ec;
    if (!fs::remove(file, ec)) {
        if (ec && ec != std::errc::no_such_file_or_directory) {
            return "remove " + file.string() + ": " + ec.message();
        }
        return std::nullopt;
    }
    std::string why;
    if (sync && !fsync_dir(dir, why)) {
        return why;
    }
    // Empty directories of clients and projects that have no sessions left; fails (harmlessly)
    // while they hold files.
    if (fs::remove(dir, ec)) {
        fs::remove(dir.parent_path(), ec);
    }
    return std::nullopt;
}

std::optional<std::string> read_session_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in.is_open()) {
        return std::nullopt;
    }
    std::string text(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>{});
    if (in.bad()) {
        return std::nullopt;
    }
    return text;
}

std::optional<file_stamp> stamp_of(const std::string& path, bool& missing) {
    struct stat st {};
    missing = false;
    if (::stat(path.c_str(), &st) != 0) {
        missing = errno == ENOENT;
        return std::nullopt;
    }
    return file_stamp{static_cast<std::uint64_t>(st.st_ino),
                      std::int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                      static_cast<std::int64_t>(st.st_size)};
}

void scan_session_files(
    const std::string& state_dir,
    const std::function<void(const session_key& key, const std::string& path)>& on_file,
    const std::function<void(std::string)>& warn) {
    const fs::path root = fs::path(state_dir) / "sessions";
    std::error_code ec;
    if (!fs::exists(root, ec)) {
        if (ec) {
            warn("cannot reach " + root.string() + ": " + ec.message());
        }
        return;
    }
    const auto skip = [&](const fs::directory_entry& e, const char* why) {
        warn("skipped " + e.path().string() + ": " + why);
    };
    // A directory's entries, sorted so that the order (of warnings too) is deterministic.
    const auto entries_of = [&](const fs::path& dir) {
        std::vector<fs::directory_entry> out;
        std::error_code iter_ec;
        fs::directory_iterator it(dir, iter_ec);
        for (; !iter_ec && it != fs::directory_iterator(); it.increment(iter_ec)) {
            out.push_back(*it);
        }
        if (iter_ec) {
            warn("read " + dir.string() + ": " + iter_ec.message());
        }
        std::sort(out.begin(), out.end());
        return out;
    };
    for (const auto& project : entries_of(root)) {
        const std::string project_name = project.path().filename().string();
        if (!is_dir(project) || !protocol::valid_name(project_name)) {
            skip(project, "not a project directory");
            continue;
        }
        for (const auto& client : entries_of(project.path())) {
            const std::string client_name = client.path().filename().string();
            if (!is_dir(client) || !protocol::valid_name(client_name)) {
                skip(client, "not a client directory");
                continue;
            }
            for (const auto& file : entries_of(client.path())) {
                const std::string name = file.path().filename().string();
                if (is_tmp_name(name) && file.is_regular_file(ec)) {
                    if (fs::remove(file.path(), ec)) {
                        warn("removed stale temporary file " + file.path().string());
                    } else {
                        warn("remove " + file.path().string() + ": " + ec.message());
                    }
                    continue;
                }
                const bool json = name.size() > json_suffix.size() && name.ends_with(json_suffix);
                const std::string session_name =
                    json ? name.substr(0, name.size() - json_suffix.size()) : std::string();
                if (!json || !protocol::valid_name(session_name) || !file.is_regular_file(ec) ||
                    file.is_symlink(ec)) {
                    skip(file, "not a session file");
                    continue;
                }
                on_file({project_name, client_name, session_name}, file.path().string());
            }
        }
    }
}

}  // namespace llmb
