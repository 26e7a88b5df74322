/* Asks llm-mqtt-bridge a question from an ESP32 with ESP-IDF's esp-mqtt and prints the answer
 * as it streams. esp-mqtt reconnects by itself; when the broker kept no session for the device
 * (clean session) while an answer was running, it is resumed from where it stopped. */
#include <stdio.h>

#include "esp_event.h"
#include "esp_netif.h"
#include "mqtt_client.h"
#include "nvs_flash.h"
#include "protocol_examples_common.h"

#include "llmb_device.h"

#define BROKER_URL "mqtt://192.168.1.10"
#define CLIENT "dev1" /* this device's {client} topic level */
#define ID "q1"

static llmb_stream stream; /* the answer's state: next seq, frags being joined, bytes */
static char work[512];     /* holds an event that arrives in frags */
static char response_topic[96], payload[256];
static int asked;

static void on_text(void* user, const char* text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static void on_done(void* user, const llmb_done* d) {
    (void)user;
    printf("\n[%s, %u ms%s]\n", d->finish_reason, (unsigned)d->duration_ms,
           d->bytes_match ? "" : ", text incomplete");
}

static void on_error(void* user, const llmb_error* e) {
    (void)user;
    printf("\n[error %s: %s]\n", e->code, e->message); /* "gone": ask again */
}

static const llmb_callbacks callbacks = {
    .on_text = on_text, .on_done = on_done, .on_error = on_error};

/* Runs in esp-mqtt's task, which also owns the stream: nothing else touches it. */
static void on_mqtt(void* arg, esp_event_base_t base, int32_t event_id, void* data) {
    esp_mqtt_event_handle_t ev = data;
    char topic[96];
    (void)arg;
    (void)base;
    if (event_id == MQTT_EVENT_CONNECTED && !asked) {
        llmb_request req = {.id = ID, .prompt = "Why is the sky blue?", .max_packet = 1024};
        int n = llmb_build_request(&req, payload, sizeof payload);
        llmb_stream_init(&stream, ID, response_topic, work, sizeof work, &callbacks, NULL);
        esp_mqtt_client_subscribe(ev->client, response_topic, 1); /* before asking */
        esp_mqtt_client_publish(ev->client, "llm/request/" CLIENT, payload, n, 1, 0);
        asked = 1;
    } else if (event_id == MQTT_EVENT_CONNECTED && !llmb_stream_finished(&stream) &&
               !ev->session_present) {
        /* back after a drop and the broker kept nothing: resume, before any message is fed */
        uint32_t from = llmb_stream_resume(&stream);
        esp_mqtt_client_subscribe(ev->client, response_topic, 1);
        int n = llmb_build_resume(ID, from, payload, sizeof payload);
        esp_mqtt_client_publish(ev->client, "llm/resume/" CLIENT, payload, n, 1, 0);
    } else if (event_id == MQTT_EVENT_DATA && ev->data_len == ev->total_data_len) {
        /* whole messages only: max_packet keeps them within esp-mqtt's 1024-byte buffer */
        snprintf(topic, sizeof topic, "%.*s", ev->topic_len, ev->topic);
        llmb_stream_feed(&stream, topic, ev->data, (size_t)ev->data_len);
    }
}

void app_main(void) {
    ESP_ERROR_CHECK(nvs_flash_init());
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    ESP_ERROR_CHECK(example_connect()); /* Wi-Fi, as set in menuconfig */
    llmb_build_topic("llm", "response", CLIENT, ID, response_topic, sizeof response_topic);
    const esp_mqtt_client_config_t cfg = {.broker.address.uri = BROKER_URL};
    esp_mqtt_client_handle_t client = esp_mqtt_client_init(&cfg);
    esp_mqtt_client_register_event(client, ESP_EVENT_ANY_ID, on_mqtt, NULL);
    esp_mqtt_client_start(client);
}
