/* Decoding of a response stream: see llmb_device.h. Plain C99, no allocation. */
#include "llmb_device.h"

#include <string.h>

/* The state must stay small enough for the smallest devices (C99 has no static_assert). */
typedef char llmb_stream_fits_in_256_bytes[(sizeof(llmb_stream) <= 256) ? 1 : -1];

/* ---- JSON scanning ----------------------------------------------------------------------- */

/* A value as it stands in the JSON text (strings with their quotes); p is NULL when absent. */
typedef struct span {
    const char* p;
    size_t n;
} span;

/* The members the decoder reads, in the order of field_names. */
enum field {
    F_ID,
    F_SEQ,
    F_TYPE,
    F_TEXT,
    F_REASONING,
    F_STATUS,
    F_POSITION,
    F_DROPPED,
    F_MODEL,
    F_MODE,
    F_OF,
    F_PART,
    F_PARTS,
    F_DATA,
    F_FINISH_REASON,
    F_USAGE,
    F_CHUNKS,
    F_BYTES,
    F_CODE,
    F_MESSAGE,
    F_RETRYABLE,
    F_RETRY_AFTER_MS,
    F_TOOL_CALLS,
    F_PROMPT_TOKENS,
    F_COMPLETION_TOKENS,
    F_DURATION_MS,
    F_COUNT
};

static const char field_names[] =
    "id\0seq\0type\0text\0reasoning\0status\0position\0dropped\0model\0mode\0of\0part\0parts\0"
    "data\0finish_reason\0usage\0chunks\0bytes\0code\0message\0retryable\0"
    "retry_after_ms\0tool_calls\0prompt_tokens\0completion_tokens\0duration_ms\0";

/* Event types, numbered from 1 in the order of type_names; 0 is a type this version ignores. */
enum event_type {
    T_OTHER,
    T_START,
    T_STATUS,
    T_CHUNK,
    T_TOOL_CALLS,
    T_FRAG,
    T_DONE,
    T_ERROR,
    T_SESSION /* done, error and session are the terminal events: keep them last */
};

static const char type_names[] = "start\0status\0chunk\0tool_calls\0frag\0done\0error\0session\0";

/* Index of the name s[0..n) in a list of NUL-separated names with `count` entries, or count. */
static int name_index(const char* names, int count, const char* s, size_t n) {
    int i;
    for (i = 0; i < count; ++i) {
        const size_t len = strlen(names);
        if (len == n && memcmp(names, s, n) == 0) {
            return i;
        }
        names += len + 1;
    }
    return count;
}

static size_t skip_ws(const char* s, size_t n, size_t i) {
    /* JSON's space, tab, LF and CR; \v and \f are let through too (cheaper to test) */
    while (i < n && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) {
        ++i;
    }
    return i;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The end (past the closing quote) of the string that starts at s[i] == '"'; 0 when it is not
 * a well-formed JSON string (unterminated, a raw control character, a bad escape). */
static size_t skip_string(const char* s, size_t n, size_t i) {
    for (++i; i < n; ++i) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            return i + 1;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c == '\\') {
            if (++i == n) {
                return 0;
            }
            if (s[i] == 'u') {
                size_t k;
                for (k = 1; k <= 4; ++k) {
                    if (i + k >= n || hex_value(s[i + k]) < 0) {
                        return 0;
                    }
                }
                i += 4;
            } else if (memchr("\"\\/bfnrt", s[i], 8) == NULL) {
                return 0;
            }
        }
    }
    return 0;
}

static int scalar_char(char c) {
    const char lower = (char)(c | 0x20);
    return (lower >= 'a' && lower <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
           c == '.';
}

/* The end of the value that starts at or after s[i]; 0 when malformed. Objects and arrays are
 * checked for as many closing brackets as opening ones (32 levels at most) and well-formed
 * strings only: a ']' that closes a '{' is not noticed (the application's JSON parser sees
 * tool_calls; checking the kinds too would not fit the flash budget). */
static size_t skip_value(const char* s, size_t n, size_t i) {
    unsigned depth = 0;
    do {
        char c;
        i = skip_ws(s, n, i);
        if (i >= n) {
            return 0;
        }
        c = s[i];
        if (c == '"') {
            i = skip_string(s, n, i);
            if (i == 0) {
                return 0;
            }
        } else if (c == '{' || c == '[') {
            if (depth == 32) {
                return 0;
            }
            ++depth;
            ++i;
        } else if (c == '}' || c == ']') {
            if (depth == 0) {
                return 0;
            }
            --depth;
            ++i;
        } else if (depth > 0 && (c == ',' || c == ':')) {
            ++i;
        } else if (scalar_char(c)) {
            while (i < n && scalar_char(s[i])) {
                ++i;
            }
        } else {
            return 0;
        }
    } while (depth > 0);
    return i;
}

/* Reads s[0..n) as one JSON object (whitespace around it allowed, nothing else) and records
 * the members named in field_names. Returns 0 when it is not a well-formed object. */
static int parse_object(const char* s, size_t n, span* f) {
    size_t i = skip_ws(s, n, 0);
    memset(f, 0, sizeof(span) * F_COUNT);
    if (i >= n || s[i] != '{') {
        return 0;
    }
    i = skip_ws(s, n, i + 1);
    if (i < n && s[i] == '}') {
        return skip_ws(s, n, i + 1) == n;
    }
    for (;;) {
        size_t key = i;
        size_t value;
        int which;
        if (i >= n || s[i] != '"') {
            return 0;
        }
        i = skip_string(s, n, i);
        if (i == 0) {
            return 0;
        }
        which = name_index(field_names, F_COUNT, s + key + 1, i - key - 2);
        i = skip_ws(s, n, i);
        if (i >= n || s[i] != ':') {
            return 0;
        }
        value = skip_ws(s, n, i + 1);
        i = skip_value(s, n, value);
        if (i == 0) {
            return 0;
        }
        if (which < F_COUNT) {
            f[which].p = s + value;
            f[which].n = i - value;
        }
        i = skip_ws(s, n, i);
        if (i < n && s[i] == '}') {
            return skip_ws(s, n, i + 1) == n;
        }
        if (i >= n || s[i] != ',') {
            return 0;
        }
        i = skip_ws(s, n, i + 1);
    }
}

static int is_string(span v) {
    return v.p != NULL && v.p[0] == '"';
}

/* A string value without escapes equal to lit. */
static int string_is(span v, const char* lit) {
    return is_string(v) && v.n == strlen(lit) + 2 && memcmp(v.p + 1, lit, v.n - 2) == 0;
}

/* A non-negative integer that fits 32 bits, written with digits only. */
static int get_u32(span v, uint32_t* out) {
    uint32_t r = 0;
    size_t i;
    if (v.p == NULL) {
        return 0; /* absent; a value present is never empty */
    }
    for (i = 0; i < v.n; ++i) {
        const uint32_t d = (uint32_t)(v.p[i] - '0');
        if (d > 9 || r > 429496729u) {
            return 0;
        }
        r = r * 10 + d;
        if (r < d) {
            return 0; /* 429496729 and a digit above 5: past 2^32 - 1 */
        }
    }
    *out = r;
    return 1;
}

static int type_of(span v) {
    int i;
    if (!is_string(v)) {
        return T_OTHER;
    }
    i = name_index(type_names, T_SESSION, v.p + 1, v.n - 2);
    return i == T_SESSION ? T_OTHER : i + 1;
}

/* ---- Unescaping -------------------------------------------------------------------------- */

typedef void (*sink_fn)(void* ctx, const char* s, size_t n);

static uint32_t hex4(const char* s) {
    uint32_t v = 0;
    int k;
    for (k = 0; k < 4; ++k) {
        v = v << 4 | (uint32_t)hex_value(s[k]);
    }
    return v;
}

static size_t put_utf8(char* out, uint32_t cp) {
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    size_t k;
    for (k = n - 1; k > 0; --k) {
        out[k] = (char)(0x80 | (cp & 0x3f));
        cp >>= 6;
    }
    out[0] = (char)(n > 1 ? (0xff00u >> n) | cp : cp); /* lead byte: 110..., 1110..., 11110... */
    return n;
}

/* Decodes the well-formed JSON string v and hands its bytes to sink (when not NULL) in pieces
 * of whole characters: runs without escapes straight from the text, each escape decoded on its
 * own. \u escapes become UTF-8, a surrogate pair one character, a lone surrogate U+FFFD.
 * Returns the decoded length. A sink may write over the text itself: the output never gets
 * ahead of the part of the text already read. */
static size_t unescape(span v, sink_fn sink, void* ctx) {
    const char* s = v.p + 1;
    const size_t n = v.n - 2;
    size_t i = 0;
    size_t total = 0;
    while (i < n) {
        char one[4];
        const char* piece = one;
        size_t len = 1;
        if (s[i] != '\\') {
            const char* end = (const char*)memchr(s + i, '\\', n - i);
            piece = s + i;
            len = end != NULL ? (size_t)(end - piece) : n - i;
            i += len;
        } else if (s[i + 1] == 'u') {
            uint32_t cp = hex4(s + i + 2);
            i += 6;
            if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
                const uint32_t low = hex4(s + i + 2);
                if (low >= 0xdc00 && low < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                    i += 6;
                }
            }
            len = put_utf8(one, cp >= 0xd800 && cp < 0xe000 ? 0xfffd : cp);
        } else {
            /* pairs of escape letter and character; '"', '\\' and '/' stand for themselves */
            static const char pairs[] = "b\bf\fn\nr\rt\t";
            const char* p = (const char*)memchr(pairs, s[i + 1], sizeof pairs - 1);
            one[0] = p != NULL ? p[1] : s[i + 1];
            i += 2;
        }
        if (sink != NULL) {
            sink(ctx, piece, len);
        }
        total += len;
    }
    return total;
}

typedef struct buffer_sink {
    char* p;
    size_t n;
    size_t cap;
    int truncated;
} buffer_sink;

/* Appends to a buffer; what does not fit is cut at a character boundary and the rest dropped. */
static void to_buffer(void* ctx, const char* s, size_t n) {
    buffer_sink* b = (buffer_sink*)ctx;
    if (n > b->cap - b->n) {
        n = b->cap - b->n;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
            --n;
        }
        b->truncated = 1;
        b->cap = b->n + n; /* and no room for what follows */
    }
    memmove(b->p + b->n, s, n);
    b->n += n;
}

/* The string v unescaped and NUL-terminated in the work buffer: in its own place when the
 * event lies in the buffer (in_buffer), else from *used on (advanced). "" when absent; cut
 * short when the buffer is. */
static const char* c_string(llmb_stream* st, span v, int in_buffer, size_t* used) {
    buffer_sink b;
    if (!is_string(v) || (!in_buffer && *used >= st->buf_size)) {
        return "";
    }
    b.p = st->buf + (in_buffer ? (size_t)(v.p - st->buf) : *used);
    /* in place the result is shorter than the escaped text: the closing quote has room for
     * the NUL */
    b.cap = in_buffer ? v.n - 1 : st->buf_size - *used - 1;
    b.n = 0;
    b.truncated = 0;
    (void)unescape(v, to_buffer, &b);
    b.p[b.n] = '\0';
    *used += b.n + 1;
    return b.p;
}

/* ---- The stream -------------------------------------------------------------------------- */

enum { FLAG_FINISHED = 1, FLAG_GAP = 2, FLAG_FRAG_OVERFLOW = 4, FLAG_RESUMING = 8 };

enum { NOT_AN_EVENT = -1, OTHER_REQUEST = -2 };

int llmb_stream_init(llmb_stream* st, const char* id, const char* topic, char* buf, size_t buf_size,
                     const llmb_callbacks* cb, void* user) {
    const size_t id_len = llmb_name_length(id);
    if (st == NULL || cb == NULL || id_len == 0) {
        return LLMB_ERR_INVALID;
    }
    memset(st, 0, sizeof *st);
    st->cb = cb;
    st->user = user;
    st->buf = buf;
    st->buf_size = buf != NULL ? buf_size : 0;
    st->topic = topic;
    st->id_len = (uint8_t)id_len;
    memcpy(st->id, id, id_len);
    return 0;
}

int llmb_stream_finished(const llmb_stream* st) {
    return (st->flags & FLAG_FINISHED) != 0;
}

uint32_t llmb_stream_contiguous(const llmb_stream* st) {
    return st->contiguous;
}

uint32_t llmb_stream_resume(llmb_stream* st) {
    st->flags |= FLAG_RESUMING;
    return st->next_seq;
}

/* Reads one event: its type (T_*) with f and seq filled in, NOT_AN_EVENT when s is not a
 * readable event (or lacks what its type needs), OTHER_REQUEST when it has another id.
 * Missing fields that are not needed to go on (a done without finish_reason) are left empty. */
static int read_event(const llmb_stream* st, const char* s, size_t n, span* f, uint32_t* seq) {
    uint32_t part = 0;
    uint32_t parts = 0;
    int type;
    if (!parse_object(s, n, f) || !is_string(f[F_ID])) {
        return NOT_AN_EVENT;
    }
    if (f[F_ID].n != st->id_len + 2u || memcmp(f[F_ID].p + 1, st->id, st->id_len) != 0) {
        return OTHER_REQUEST;
    }
    if (!get_u32(f[F_SEQ], seq) || *seq == 0xffffffffu || !is_string(f[F_TYPE])) {
        return NOT_AN_EVENT;
    }
    type = type_of(f[F_TYPE]);
    if ((type == T_CHUNK && is_string(f[F_TEXT]) == is_string(f[F_REASONING])) ||
        (type == T_TOOL_CALLS && (f[F_TOOL_CALLS].p == NULL || f[F_TOOL_CALLS].p[0] != '[')) ||
        (type == T_FRAG &&
         (!is_string(f[F_OF]) || !is_string(f[F_DATA]) || !get_u32(f[F_PART], &part) ||
          !get_u32(f[F_PARTS], &parts) || part >= parts))) {
        return NOT_AN_EVENT;
    }
    return type;
}

static void on_done(llmb_stream* st, span* f, int in_buffer) {
    llmb_done d;
    size_t used = 0;
    memset(&d, 0, sizeof d);
    d.finish_reason = c_string(st, f[F_FINISH_REASON], in_buffer, &used);
    d.bytes_match = (uint8_t)(get_u32(f[F_BYTES], &d.bytes) && d.bytes == st->text_bytes);
    d.gap = (st->flags & FLAG_GAP) != 0;
    (void)get_u32(f[F_CHUNKS], &d.chunks);
    (void)get_u32(f[F_DURATION_MS], &d.duration_ms);
    /* the usage members go into f too: the event's own are read by now */
    if (f[F_USAGE].p != NULL && parse_object(f[F_USAGE].p, f[F_USAGE].n, f)) {
        d.has_prompt_tokens = (uint8_t)get_u32(f[F_PROMPT_TOKENS], &d.prompt_tokens);
        d.has_completion_tokens = (uint8_t)get_u32(f[F_COMPLETION_TOKENS], &d.completion_tokens);
    }
    if (st->cb->on_done != NULL) {
        st->cb->on_done(st->user, &d);
    }
}

static void on_error(llmb_stream* st, const span* f, int in_buffer) {
    llmb_error e;
    size_t used = 0;
    e.code = c_string(st, f[F_CODE], in_buffer, &used);
    e.message = c_string(st, f[F_MESSAGE], in_buffer, &used);
    e.retryable = (uint8_t)(f[F_RETRYABLE].p != NULL && f[F_RETRYABLE].p[0] == 't');
    e.retry_after_ms = 0;
    (void)get_u32(f[F_RETRY_AFTER_MS], &e.retry_after_ms);
    if (st->cb->on_error != NULL) {
        st->cb->on_error(st->user, &e);
    }
}

static int is_terminal(int type) {
    return type >= T_DONE; /* done, error, session (a session operation's): the last types */
}

/* Hands a complete event (its seq taken) to the callbacks. in_buffer: it lies in the work
 * buffer (joined from frags), so its strings are unescaped in place. */
static llmb_feed_result deliver(llmb_stream* st, int type, span* f, int in_buffer) {
    const llmb_callbacks* cb = st->cb;
    size_t used = 0;
    uint32_t value = 0;
    if (is_terminal(type)) {
        st->flags |= FLAG_FINISHED;
    }
    switch (type) {
        case T_START:
            if (cb->on_start != NULL) {
                const char* model = c_string(st, f[F_MODEL], in_buffer, &used);
                cb->on_start(st->user, model, string_is(f[F_MODE], "whole"));
            }
            break;
        case T_STATUS:
            if (cb->on_status != NULL && is_string(f[F_STATUS])) {
                /* in the order of llmb_status; an unknown one is LLMB_STATUS_OTHER */
                const int status = name_index("queued\0generating\0trimmed\0", LLMB_STATUS_OTHER,
                                              f[F_STATUS].p + 1, f[F_STATUS].n - 2);
                (void)get_u32(f[F_POSITION], &value); /* queued */
                (void)get_u32(f[F_DROPPED], &value);  /* trimmed */
                cb->on_status(st->user, (llmb_status)status, value);
            }
            break;
        case T_CHUNK:
            if (is_string(f[F_TEXT])) {
                st->text_bytes += (uint32_t)unescape(f[F_TEXT], cb->on_text, st->user);
            } else {
                (void)unescape(f[F_REASONING], cb->on_reasoning, st->user);
            }
            break;
        case T_TOOL_CALLS:
            if (cb->on_tool_calls != NULL) {
                cb->on_tool_calls(st->user, f[F_TOOL_CALLS].p, f[F_TOOL_CALLS].n);
            }
            break;
        case T_DONE:
            on_done(st, f, in_buffer);
            break;
        case T_ERROR:
            on_error(st, f, in_buffer);
            break;
        default: /* a type this version does not know: ignored, as the protocol asks */
            break;
    }
    return LLMB_FEED_OK;
}

/* A frag whose seq has been taken: appends its data; the last part delivers the event. */
static llmb_feed_result on_frag(llmb_stream* st, span* f, uint32_t seq) {
    uint32_t part = 0;
    uint32_t parts = 0;
    int type = type_of(f[F_OF]);
    (void)get_u32(f[F_PART], &part);
    (void)get_u32(f[F_PARTS], &parts);
    if (part == 0) {
        /* a new event; one still being joined (the bridge never interleaves them) is dropped */
        st->frag_parts = parts;
        st->frag_len = 0;
        st->frag_seq = seq;
        st->frag_of = (uint8_t)type;
        st->flags &= (uint8_t)~FLAG_FRAG_OVERFLOW;
    } else if (st->frag_parts == 0) {
        return LLMB_FEED_IGNORED; /* its first parts were lost */
    } else if (part != seq - st->frag_seq || parts != st->frag_parts || type != st->frag_of) {
        st->frag_parts = 0; /* not the continuation of the event being joined */
        return LLMB_FEED_MALFORMED;
    }
    if ((st->flags & FLAG_FRAG_OVERFLOW) == 0) {
        buffer_sink b;
        b.p = st->buf;
        b.n = st->frag_len;
        b.cap = st->buf_size;
        b.truncated = 0;
        (void)unescape(f[F_DATA], to_buffer, &b);
        st->frag_len = (uint32_t)b.n;
        if (b.truncated) {
            st->flags |= FLAG_FRAG_OVERFLOW;
        }
    }
    if (part + 1 < parts) {
        return LLMB_FEED_OK;
    }
    st->frag_parts = 0;
    if ((st->flags & FLAG_FRAG_OVERFLOW) != 0) {
        if (is_terminal(st->frag_of)) {
            st->flags |= FLAG_FINISHED; /* lost, but the stream is over all the same */
        }
        return LLMB_FEED_OVERFLOW;
    }
    /* the joined text is the event itself: same id, the seq of part 0, the type of "of" */
    type = read_event(st, st->buf, st->frag_len, f, &seq);
    if (type != st->frag_of || type == T_FRAG || seq != st->frag_seq) {
        return LLMB_FEED_MALFORMED;
    }
    return deliver(st, type, f, 1);
}

llmb_feed_result llmb_stream_feed(llmb_stream* st, const char* topic, const char* payload,
                                  size_t len) {
    span f[F_COUNT];
    uint32_t seq = 0;
    int type;
    if (st->topic != NULL && topic != NULL && strcmp(st->topic, topic) != 0) {
        return LLMB_FEED_IGNORED;
    }
    type = read_event(st, payload, payload != NULL ? len : 0, f, &seq);
    if (type == OTHER_REQUEST) {
        return LLMB_FEED_IGNORED;
    }
    if (type == NOT_AN_EVENT) {
        return LLMB_FEED_MALFORMED;
    }
    if ((st->flags & FLAG_RESUMING) != 0) {
        if (type == T_ERROR && string_is(f[F_CODE], "gone")) {
            seq = st->next_seq; /* the bridge no longer holds the request: any seq ends it */
        } else if (seq > st->next_seq) {
            return LLMB_FEED_EARLY; /* a live event ahead of the replay, which brings it again */
        }
    }
    if (seq < st->next_seq) {
        return LLMB_FEED_DUPLICATE;
    }
    if ((st->flags & FLAG_FINISHED) != 0) {
        return LLMB_FEED_AFTER_END;
    }
    st->flags &= (uint8_t)~FLAG_RESUMING;
    if (seq > st->next_seq) {
        st->flags |= FLAG_GAP;
        st->frag_parts = 0; /* a reassembly across a hole cannot be completed */
        if (st->cb->on_gap != NULL) {
            st->cb->on_gap(st->user, st->next_seq, seq);
        }
    }
    st->next_seq = seq + 1;
    if ((st->flags & FLAG_GAP) == 0) {
        st->contiguous = st->next_seq;
    }
    if (type == T_FRAG) {
        return on_frag(st, f, seq);
    }
    st->frag_parts = 0; /* an event between frags ends the reassembly: the bridge never does it */
    return deliver(st, type, f, 0);
}
