/* The device side of the llm-mqtt-bridge protocol (protocol/PROTOCOL.md) in C99, for
 * microcontrollers: builds request and cancel payloads, and decodes the events of one request's
 * response topic (JSON scanning, unescaping, frag reassembly, seq checks and the done.bytes
 * check). No malloc, no JSON library, nothing beyond <string.h>; every buffer is the caller's.
 *
 * Ordering (what the decoder assumes and does):
 * - The broker delivers one publisher's messages on one topic in order; only a QoS 1
 *   redelivery (after a reconnect) repeats a message. So the decoder holds nothing back:
 *   a seq below the next expected one is a duplicate and is dropped (LLMB_FEED_DUPLICATE).
 * - A seq above the next expected one means messages were lost (QoS 0, a broker that lost the
 *   device's session). The decoder reports the gap through on_gap(first missing, received),
 *   abandons a frag reassembly in progress, and goes on with the new message, so that the
 *   device still sees the rest of the answer and its terminal event (done.gap tells it the
 *   text has a hole). A missing seq that turns up later is taken for a duplicate: it is
 *   dropped. The frags of one event are consecutive seqs, so frags out of order are a gap too.
 * - llmb_stream_contiguous() is the number of seqs held without a hole (seq 0 up to it,
 *   frags included).
 * - Resuming (after a reconnect with a clean session, when the broker kept nothing for the
 *   device): llmb_stream_resume() gives the seq to ask for and makes the decoder wait for it.
 *   Live events newer than it can arrive before the bridge's replay does (the device
 *   subscribed again before the bridge read the resume message); they are dropped
 *   (LLMB_FEED_EARLY), not taken for a gap, since the replay brings them again in order. A
 *   replayed event the decoder already handled is a duplicate, so no text is delivered twice.
 *
 * Messages are validated whole before anything is delivered: a truncated or unreadable payload
 * is rejected (LLMB_FEED_MALFORMED) without a callback and without changing the state. Nested
 * values (usage, tool_calls) are checked for as many closing brackets as opening ones (not
 * their kinds) and well-formed strings only.
 */
#ifndef LLMB_DEVICE_H
#define LLMB_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Requests ---------------------------------------------------------------------------- */

#define LLMB_NAME_MAX 64 /* ids, session names: 1 to 64 of [A-Za-z0-9_.-] */

/* The payload does not fit the buffer (with its NUL). */
#define LLMB_ERR_NO_SPACE (-1)
/* A bad id or session name, or not exactly one of prompt and messages. */
#define LLMB_ERR_INVALID (-2)

/* Length of s when it is a valid name (1 to 64 of [A-Za-z0-9_.-]), else 0. */
size_t llmb_name_length(const char* s);

typedef struct llmb_message {
    const char* role;    /* "system", "user", "assistant" or "tool" */
    const char* content; /* UTF-8 text, escaped as needed */
} llmb_message;

typedef struct llmb_request {
    const char* id;     /* required */
    const char* prompt; /* exactly one of prompt (non-empty) and messages */
    const llmb_message* messages;
    size_t message_count;
    uint32_t max_tokens; /* 0: not sent */
    uint32_t max_packet; /* 0: not sent; otherwise 128 or more, the device's packet limit */
    uint32_t flush_ms;   /* 0: not sent */
    const char* session; /* NULL: not sent */
} llmb_request;

/* Writes the request's JSON and a NUL into out. Returns its length (without the NUL), or
 * LLMB_ERR_NO_SPACE / LLMB_ERR_INVALID. Publish it with QoS 1 on {prefix}/request/{client}. */
int llmb_build_request(const llmb_request* req, char* out, size_t out_size);

/* The cancel payload {"id":"<id>"} for {prefix}/cancel/{client}; results as above. */
int llmb_build_cancel(const char* id, char* out, size_t out_size);

/* The resume payload {"id":"<id>","from_seq":<from_seq>} for {prefix}/resume/{client}, with
 * from_seq from llmb_stream_resume(); results as above. */
int llmb_build_resume(const char* id, uint32_t from_seq, char* out, size_t out_size);

/* A topic: prefix/kind/client, and /id when id is not NULL ("llm", "request", "dev1" gives
 * llm/request/dev1; "llm", "response", "dev1", "q1" gives llm/response/dev1/q1). client and id
 * must be names; prefix and kind (not NULL) are used as they are. Results as above. */
int llmb_build_topic(const char* prefix, const char* kind, const char* client, const char* id,
                     char* out, size_t out_size);

/* ---- Responses --------------------------------------------------------------------------- */

typedef enum llmb_status {
    LLMB_STATUS_QUEUED,     /* value: position in the queue, counting the request itself */
    LLMB_STATUS_GENERATING, /* value: 0 */
    LLMB_STATUS_TRIMMED,    /* value: stored session messages dropped */
    LLMB_STATUS_OTHER       /* a status this version does not know; value: 0 */
} llmb_status;

typedef struct llmb_done {
    const char* finish_reason; /* NUL-terminated: "stop", "length", "tool_calls", "cancelled"... */
    uint8_t has_prompt_tokens;
    uint8_t has_completion_tokens;
    uint8_t bytes_match; /* done.bytes equals the text bytes delivered through on_text */
    uint8_t gap;         /* messages were lost on the way (see on_gap) */
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    uint32_t chunks;      /* done.chunks: chunk events the bridge sent (reasoning included) */
    uint32_t bytes;       /* done.bytes: text bytes the bridge sent */
    uint32_t duration_ms; /* done.duration_ms: from the request's arrival at the bridge; 0 when
                             absent */
} llmb_done;

typedef struct llmb_error {
    const char* code;        /* NUL-terminated: "upstream_timeout", "rate_limited", ... */
    const char* message;     /* NUL-terminated, plain words; "" when absent */
    uint8_t retryable;       /* sending the same request again later can work */
    uint32_t retry_after_ms; /* 0 when absent */
} llmb_error;

/* Every callback may be NULL (the struct itself may not). user is the pointer given to
 * llmb_stream_init. Pointers passed to a callback are valid during the call only. */
typedef struct llmb_callbacks {
    void (*on_start)(void* user, const char* model, int whole_mode); /* model NUL-terminated */
    /* A piece of the answer: unescaped UTF-8, whole characters; one chunk may come in several
     * pieces. Concatenated in order they are the answer byte for byte. */
    void (*on_text)(void* user, const char* text, size_t len);
    void (*on_reasoning)(void* user, const char* text, size_t len);
    void (*on_status)(void* user, llmb_status status, uint32_t value);
    /* The OpenAI tool_calls array as raw JSON (frags joined), not NUL-terminated. */
    void (*on_tool_calls)(void* user, const char* json, size_t len);
    void (*on_done)(void* user, const llmb_done* done);
    void (*on_error)(void* user, const llmb_error* error);
    /* Seqs first_missing up to received - 1 were lost; received is being handled. */
    void (*on_gap)(void* user, uint32_t first_missing, uint32_t received);
} llmb_callbacks;

typedef enum llmb_feed_result {
    LLMB_FEED_OK = 0,         /* handled: an event, a frag of one, or an unknown event type */
    LLMB_FEED_IGNORED = 1,    /* another request's message (topic or id), or a frag of an event
                                 already lost to a gap */
    LLMB_FEED_DUPLICATE = 2,  /* a seq already handled (QoS 1 redelivery) */
    LLMB_FEED_AFTER_END = 3,  /* a new seq after the terminal event */
    LLMB_FEED_EARLY = 4,      /* after llmb_stream_resume(): a seq beyond the one asked for,
                                 which the replay brings again */
    LLMB_FEED_MALFORMED = -1, /* not a readable event of the protocol; nothing delivered (a frag
                                 that does not continue the event being joined drops that event) */
    LLMB_FEED_OVERFLOW = -2   /* an event did not fit the work buffer and was dropped */
} llmb_feed_result;

/* State of one request's response stream; treat as opaque. At most 256 bytes (checked). */
typedef struct llmb_stream {
    const llmb_callbacks* cb;
    void* user;
    char* buf; /* work buffer: frag reassembly and the unescaped strings of start/done/error */
    size_t buf_size;
    const char* topic;   /* NULL: messages of any topic are looked at */
    uint32_t next_seq;   /* one past the highest seq handled */
    uint32_t contiguous; /* seqs below it all handled */
    uint32_t text_bytes; /* bytes delivered through on_text */
    uint32_t frag_len;   /* bytes of the event being reassembled in buf */
    uint32_t frag_parts; /* 0: no reassembly in progress */
    uint32_t frag_seq;   /* seq of part 0; the part expected next is the seq's distance to it */
    uint8_t frag_of;     /* the type being reassembled */
    uint8_t flags;
    uint8_t id_len;
    char id[LLMB_NAME_MAX];
} llmb_stream;

/* Starts decoding the response of request id (copied). buf holds a fragmented event while its
 * frags arrive, and the unescaped strings of start, done and error events (truncated to fit):
 * 512 bytes hold every done and error event; tool_calls may need more. topic, when not NULL,
 * is the response topic (kept by pointer): messages on other topics are ignored, which lets a
 * device feed every message it receives. Returns 0, or LLMB_ERR_INVALID for a bad id or no cb. */
int llmb_stream_init(llmb_stream* st, const char* id, const char* topic, char* buf, size_t buf_size,
                     const llmb_callbacks* cb, void* user);

/* Handles one MQTT message. topic may be NULL (then the topic check is skipped). */
llmb_feed_result llmb_stream_feed(llmb_stream* st, const char* topic, const char* payload,
                                  size_t len);

/* 1 once the terminal event (done, error) has been handled, or lost to an overflow. */
int llmb_stream_finished(const llmb_stream* st);

/* Seqs 0 .. contiguous-1 arrived without a hole; the last seq held contiguously is this minus
 * one (none when 0). */
uint32_t llmb_stream_contiguous(const llmb_stream* st);

/* Call after a reconnect that lost the broker session, before subscribing again: returns the
 * seq to resume from (one past the highest seq handled) and makes the decoder wait for it:
 * newer seqs are dropped (LLMB_FEED_EARLY) until it arrives, and an error event with code
 * "gone" (the bridge no longer holds the request) ends the stream whatever its seq. An event
 * whose frags were being joined is continued from where it stopped: the frags received stay in
 * the work buffer. Seqs lost to a gap before the resume are not asked for again (the text after
 * them was delivered already). Then publish llmb_build_resume(id, seq) on
 * {prefix}/resume/{client}. */
uint32_t llmb_stream_resume(llmb_stream* st);

#ifdef __cplusplus
}
#endif

#endif /* LLMB_DEVICE_H */
