/* Request and cancel payloads: see llmb_device.h. Plain C99, no allocation. */
#include "llmb_device.h"

#include <string.h>

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

typedef struct writer {
    char* p;
    size_t n;
    size_t cap; /* room for the JSON; the NUL is kept out of it */
    int full;
} writer;

static void put(writer* w, const char* s, size_t n) {
    if (w->full || n > w->cap - w->n) {
        w->full = 1;
        return;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

static void put_lit(writer* w, const char* s) {
    put(w, s, strlen(s));
}

/* s as a quoted JSON string: '"', '\\' and control characters escaped, UTF-8 as it is. */
static void put_string(writer* w, const char* s) {
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    for (; *s != '\0'; ++s) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            const char e[2] = {'\\', (char)c};
            put(w, e, 2);
        } else if (c == '\n') {
            put(w, "\\n", 2);
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
    if (w->full || w->n > 0x7fffffffu) {
        return LLMB_ERR_NO_SPACE;
    }
    w->p[w->n] = '\0';
    return (int)w->n;
}

/* Starts a payload with its id: {"id":"<id>"; 0 when there is no room at all. */
static int open_payload(writer* w, const char* id, char* out, size_t out_size) {
    w->p = out;
    w->n = 0;
    w->cap = out_size - 1;
    w->full = 0;
    if (out == NULL || out_size == 0) {
        return 0;
    }
    put_lit(w, "{\"id\":");
    put_string(w, id);
    return 1;
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
    if (!open_payload(&w, req->id, out, out_size)) {
        return LLMB_ERR_NO_SPACE;
    }
    if (!has_messages) {
        put_lit(&w, ",\"prompt\":");
        put_string(&w, req->prompt);
    } else {
        put_lit(&w, ",\"messages\":[");
        for (i = 0; i < req->message_count; ++i) {
            if (req->messages[i].role == NULL || req->messages[i].content == NULL) {
                return LLMB_ERR_INVALID;
            }
            put_lit(&w, i == 0 ? "{\"role\":" : ",{\"role\":");
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

int llmb_build_cancel(const char* id, char* out, size_t out_size) {
    writer w;
    if (llmb_name_length(id) == 0) {
        return LLMB_ERR_INVALID;
    }
    if (!open_payload(&w, id, out, out_size)) {
        return LLMB_ERR_NO_SPACE;
    }
    put_lit(&w, "}");
    return finish(&w);
}
