/* Request and cancel payloads: see llmb_device.h. Plain C99, no allocation. */
#include "llmb_device.h"

#include <string.h>

/* Keeps a function out of line where inlining would copy it (GCC and Clang; -Os otherwise
 * inlines small static functions into each caller). */
#if defined(__GNUC__)
#define LLMB_NOINLINE __attribute__((noinline))
#else
#define LLMB_NOINLINE
#endif

static int name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

size_t llmb_name_length(const char* s) {
    size_t n = 0;
    if (s == NULL) {
        return 0;
    }
    while (s[n] != '\0') {
        if (n == LLMB_NAME_MAX || !name_char(s[n])) {
            return 0;
        }
        ++n;
    }
    return n;
}

/* Text written into p[0..size): n bytes so far, always fewer than size (the NUL needs one);
 * n == size once something did not fit. */
typedef struct writer {
    char* p;
    size_t n;
    size_t size;
} writer;

static void put(writer* w, const char* s, size_t n) {
    if (n >= w->size - w->n) {
        w->n = w->size;
        return;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

static void put_lit(writer* w, const char* s) {
    put(w, s, strlen(s));
}

/* "/" and s: a topic level. */
static void put_level(writer* w, const char* s) {
    put(w, "/", 1);
    put_lit(w, s);
}

/* s as a quoted JSON string: '"' and '\\' escaped, control characters as six-character escapes
 * (a newline too), UTF-8 as it is. */
static void put_string(writer* w, const char* s) {
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    for (; *s != '\0'; ++s) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            const char e[2] = {'\\', (char)c};
            put(w, e, 2);
        } else if (c < 0x20) {
            const char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(w, e, 6);
        } else {
            put(w, s, 1);
        }
    }
    put(w, "\"", 1);
}

static void put_uint(writer* w, uint32_t v) {
    char digits[10];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(w, digits + i, sizeof digits - i);
}

static void put_field_uint(writer* w, const char* key, uint32_t v) {
    if (v != 0) {
        put_lit(w, key);
        put_uint(w, v);
    }
}

static int finish(writer* w) {
    if (w->n == w->size || w->n > 0x7fffffffu) {
        return LLMB_ERR_NO_SPACE;
    }
    w->p[w->n] = '\0';
    return (int)w->n;
}

/* Starts writing into out (no room at all when it is NULL). */
static void open_writer(writer* w, char* out, size_t out_size) {
    w->p = out;
    w->n = 0;
    w->size = out != NULL ? out_size : 0;
}

/* Starts a payload with its id: {"id":"<id>". */
LLMB_NOINLINE static void open_payload(writer* w, const char* id, char* out, size_t out_size) {
    open_writer(w, out, out_size);
    put_lit(w, "{\"id\":");
    put_string(w, id);
}

int llmb_build_request(const llmb_request* req, char* out, size_t out_size) {
    writer w;
    size_t i;
    int has_messages;
    if (req == NULL || llmb_name_length(req->id) == 0 ||
        (req->session != NULL && llmb_name_length(req->session) == 0)) {
        return LLMB_ERR_INVALID;
    }
    has_messages = req->messages != NULL && req->message_count > 0;
    if (has_messages == (req->prompt != NULL) || (req->prompt != NULL && req->prompt[0] == '\0')) {
        return LLMB_ERR_INVALID;
    }
    open_payload(&w, req->id, out, out_size);
    if (!has_messages) {
        put_lit(&w, ",\"prompt\":");
        put_string(&w, req->prompt);
    } else {
        put_lit(&w, ",\"messages\":[");
        for (i = 0; i < req->message_count; ++i) {
            if (req->messages[i].role == NULL || req->messages[i].content == NULL) {
                return LLMB_ERR_INVALID;
            }
            if (i > 0) {
                put(&w, ",", 1);
            }
            put_lit(&w, "{\"role\":");
            put_string(&w, req->messages[i].role);
            put_lit(&w, ",\"content\":");
            put_string(&w, req->messages[i].content);
            put_lit(&w, "}");
        }
        put_lit(&w, "]");
    }
    put_field_uint(&w, ",\"max_tokens\":", req->max_tokens);
    put_field_uint(&w, ",\"max_packet\":", req->max_packet);
    put_field_uint(&w, ",\"flush_ms\":", req->flush_ms);
    if (req->session != NULL) {
        put_lit(&w, ",\"session\":");
        put_string(&w, req->session);
    }
    put_lit(&w, "}");
    return finish(&w);
}

/* {"id":"<id>"}, with ,"from_seq":N before the "}" when resume is set. Not inlined: it would be
 * copied into both of its callers. */
LLMB_NOINLINE static int id_payload(const char* id, int resume, uint32_t from_seq, char* out,
                                    size_t out_size) {
    writer w;
    if (llmb_name_length(id) == 0) {
        return LLMB_ERR_INVALID;
    }
    open_payload(&w, id, out, out_size);
    if (resume) {
        put_lit(&w, ",\"from_seq\":");
        put_uint(&w, from_seq);
    }
    put_lit(&w, "}");
    return finish(&w);
}

int llmb_build_cancel(const char* id, char* out, size_t out_size) {
    return id_payload(id, 0, 0, out, out_size);
}

int llmb_build_resume(const char* id, uint32_t from_seq, char* out, size_t out_size) {
    return id_payload(id, 1, from_seq, out, out_size);
}

int llmb_build_topic(const char* prefix, const char* kind, const char* client, const char* id,
                     char* out, size_t out_size) {
    writer w;
    if (llmb_name_length(client) == 0 || (id != NULL && llmb_name_length(id) == 0)) {
        return LLMB_ERR_INVALID;
    }
    open_writer(&w, out, out_size);
    put_lit(&w, prefix);
    put_level(&w, kind);
    put_level(&w, client);
    if (id != NULL) {
        put_level(&w, id);
    }
    return finish(&w);
}
