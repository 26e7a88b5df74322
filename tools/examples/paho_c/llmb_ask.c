/* Asks llm-mqtt-bridge one question with the device library (protocol/device) on Paho C's
 * synchronous client, the way a device would: build the request, subscribe to its response
 * topic, publish, feed every message to the library, print the text as it streams. When the
 * connection drops it connects again (clean session: the broker kept nothing) and asks the
 * bridge to replay from where it stopped.
 *
 *   llmb-ask [--host H] [--port N] [--client C] [--id ID] [--max-packet N] [--timeout S] PROMPT
 *
 * The answer goes to stdout, a summary to stderr. Exit codes: 0 answered, 1 error event,
 * 2 broker unreachable, 3 events lost, a wrong byte count or no answer in time. */
#define _POSIX_C_SOURCE 200809L /* sleep() */

#include <MQTTClient.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llmb_device.h"

typedef struct answer {
    int ended;     /* done or error arrived */
    int exit_code; /* what the program exits with once ended */
} answer;

static void on_text(void* user, const char* text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout); /* stream it */
}

static void on_done(void* user, const llmb_done* d) {
    answer* a = (answer*)user;
    fprintf(stderr, "\ndone: %s, chunks %u, bytes %u (%s), duration_ms %u\n", d->finish_reason,
            (unsigned)d->chunks, (unsigned)d->bytes, d->bytes_match ? "all received" : "INCOMPLETE",
            (unsigned)d->duration_ms);
    a->ended = 1;
    a->exit_code = d->bytes_match && !d->gap ? 0 : 3;
}

static void on_error(void* user, const llmb_error* e) {
    answer* a = (answer*)user;
    fprintf(stderr, "\nerror: %s: %s (%s)\n", e->code, e->message,
            e->retryable ? "retryable" : "not retryable");
    a->ended = 1;
    a->exit_code = 1;
}

static void on_gap(void* user, uint32_t first_missing, uint32_t received) {
    (void)user;
    fprintf(stderr, "\n[lost events %u to %u]\n", (unsigned)first_missing, (unsigned)received - 1);
}

/* Connects with a clean session and subscribes to the response topic (QoS 1). */
static int connect_and_subscribe(MQTTClient mqtt, const char* response_topic) {
    MQTTClient_connectOptions opts = MQTTClient_connectOptions_initializer;
    opts.keepAliveInterval = 10;
    opts.cleansession = 1;
    if (MQTTClient_connect(mqtt, &opts) != MQTTCLIENT_SUCCESS) {
        return 0;
    }
    return MQTTClient_subscribe(mqtt, response_topic, 1) == MQTTCLIENT_SUCCESS;
}

static int publish(MQTTClient mqtt, const char* topic, const char* payload, int len) {
    MQTTClient_deliveryToken token;
    return MQTTClient_publish(mqtt, topic, len, payload, 1, 0, &token) == MQTTCLIENT_SUCCESS &&
           MQTTClient_waitForCompletion(mqtt, token, 5000) == MQTTCLIENT_SUCCESS;
}

int main(int argc, char** argv) {
    const char* host = "127.0.0.1";
    const char* port = "1883";
    const char* client = "dev1";
    const char* id = "q1";
    const char* prompt = NULL;
    unsigned max_packet = 256; /* what PubSubClient takes by default */
    long timeout_s = 300;
    int i;
    for (i = 1; i < argc; ++i) {
        const char* value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--host") == 0 && value) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--port") == 0 && value) {
            port = argv[++i];
        } else if (strcmp(argv[i], "--client") == 0 && value) {
            client = argv[++i];
        } else if (strcmp(argv[i], "--id") == 0 && value) {
            id = argv[++i];
        } else if (strcmp(argv[i], "--max-packet") == 0 && value) {
            max_packet = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--timeout") == 0 && value) {
            timeout_s = strtol(argv[++i], NULL, 10);
        } else if (argv[i][0] != '-' && prompt == NULL) {
            prompt = argv[i];
        } else {
            fprintf(stderr,
                    "usage: %s [--host H] [--port N] [--client C] [--id ID] "
                    "[--max-packet N] [--timeout S] PROMPT\n",
                    argv[0]);
            return 2;
        }
    }
    if (prompt == NULL) {
        fprintf(stderr, "%s: no prompt\n", argv[0]);
        return 2;
    }

    /* Topics and the request, built by the library into our own buffers. */
    char request_topic[160], response_topic[240], resume_topic[160], payload[4096], url[300];
    llmb_request req = {0};
    req.id = id;
    req.prompt = prompt;
    req.max_packet = max_packet;
    const int len = llmb_build_request(&req, payload, sizeof payload);
    if (len < 0 ||
        llmb_build_topic("llm", "request", client, NULL, request_topic, sizeof request_topic) < 0 ||
        llmb_build_topic("llm", "response", client, id, response_topic, sizeof response_topic) <
            0 ||
        llmb_build_topic("llm", "resume", client, NULL, resume_topic, sizeof resume_topic) < 0) {
        fprintf(stderr, "%s: bad client, id or prompt (or too long)\n", argv[0]);
        return 2;
    }

    /* The stream decoder: the work buffer holds an event arriving in frags. */
    static char work[1024];
    static const llmb_callbacks callbacks = {
        .on_text = on_text, .on_done = on_done, .on_error = on_error, .on_gap = on_gap};
    answer a = {0, 3};
    llmb_stream st;
    llmb_stream_init(&st, id, response_topic, work, sizeof work, &callbacks, &a);

    MQTTClient mqtt;
    snprintf(url, sizeof url, "tcp://%s:%s", host, port);
    /* the MQTT client id: the device's name, as a device would use */
    if (MQTTClient_create(&mqtt, url, client, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
            MQTTCLIENT_SUCCESS ||
        !connect_and_subscribe(mqtt, response_topic) || /* subscribe before asking */
        !publish(mqtt, request_topic, payload, len)) {
        fprintf(stderr, "%s: cannot reach the broker at %s\n", argv[0], url);
        return 2;
    }

    const time_t deadline = time(NULL) + timeout_s;
    while (!a.ended && time(NULL) < deadline) {
        char* topic = NULL;
        int topic_len = 0;
        MQTTClient_message* m = NULL;
        if (!MQTTClient_isConnected(mqtt)) {
            /* Back: resume from the seq the library names (it drops what it had already). */
            const uint32_t from = llmb_stream_resume(&st);
            const int n = llmb_build_resume(id, from, payload, sizeof payload);
            if (!connect_and_subscribe(mqtt, response_topic) ||
                !publish(mqtt, resume_topic, payload, n)) {
                sleep(1); /* not yet: try again in a second */
                continue;
            }
            fprintf(stderr, "\n[reconnected, resuming from seq %u]\n", (unsigned)from);
        }
        if (MQTTClient_receive(mqtt, &topic, &topic_len, &m, 1000) == MQTTCLIENT_SUCCESS &&
            m != NULL) {
            llmb_stream_feed(&st, topic, (const char*)m->payload, (size_t)m->payloadlen);
            MQTTClient_freeMessage(&m);
            MQTTClient_free(topic);
        }
    }
    if (!a.ended) {
        fprintf(stderr, "%s: no answer within %ld s\n", argv[0], timeout_s);
    }
    MQTTClient_disconnect(mqtt, 1000);
    MQTTClient_destroy(&mqtt);
    return a.exit_code;
}
