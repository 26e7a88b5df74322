// Asks llm-mqtt-bridge a question from an ESP32 or ESP8266 (Arduino core) with PubSubClient and
// prints the answer on the serial port as it streams. When Wi-Fi drops mid-answer it connects
// again and asks the bridge to replay the rest (the device library says from which seq and
// drops what it already had).
//
// Copy llmb_device.h, llmb_device.c and llmb_request.c from protocol/device/ into this folder
// (the Arduino IDE compiles the .c files of a sketch), install PubSubClient (Library Manager),
// and set the four values below.
#if defined(ESP8266)
#include <ESP8266WiFi.h>
#else
#include <WiFi.h>
#endif
#include <PubSubClient.h>

#include "llmb_device.h"

const char* WIFI_SSID = "your-ssid";
const char* WIFI_PASSWORD = "your-password";
const char* BROKER = "192.168.1.10";
const char* CLIENT = "dev1";  // this device's {client} topic level

WiFiClient net;
PubSubClient mqtt(net);  // its buffer: 256 bytes (MQTT_MAX_PACKET_SIZE), in and out

llmb_stream stream;  // the answer's state: next seq, frags being joined, bytes received
char work[512];      // holds an event that arrives in frags (a done does at 256 bytes)
char request_topic[64], response_topic[96], resume_topic[64], payload[200];
llmb_callbacks callbacks;
const char* id = "q1";
bool asking = false;

void on_text(void*, const char* text, size_t len) { Serial.write(text, len); }

void on_done(void*, const llmb_done* d) {
  Serial.printf("\n[%s, %u ms%s]\n", d->finish_reason, (unsigned)d->duration_ms,
                d->bytes_match ? "" : ", text incomplete");
  asking = false;
}

void on_error(void*, const llmb_error* e) {
  Serial.printf("\n[error %s: %s]\n", e->code, e->message);  // "gone": ask again
  asking = false;
}

// PubSubClient calls this from mqtt.loop() for every message: hand each one to the library.
void on_message(char* topic, byte* data, unsigned int len) {
  llmb_stream_feed(&stream, topic, (const char*)data, len);
}

void ask(const char* question) {
  llmb_request req = {};
  req.id = id;
  req.prompt = question;
  req.max_packet = 256;  // the bridge keeps every message within PubSubClient's buffer
  int n = llmb_build_request(&req, payload, sizeof payload);
  if (n < 0) return;  // too long for the buffer, or an invalid id
  llmb_build_topic("llm", "response", CLIENT, id, response_topic, sizeof response_topic);
  llmb_stream_init(&stream, id, response_topic, work, sizeof work, &callbacks, nullptr);
  mqtt.subscribe(response_topic, 1);  // before asking
  mqtt.publish(request_topic, (const uint8_t*)payload, n);  // PubSubClient publishes at QoS 0
  asking = true;
}

// (Re)connects Wi-Fi and MQTT. PubSubClient starts a clean session: the broker kept nothing
// while the device was away, so a running answer is resumed.
void connect() {
  if (WiFi.status() != WL_CONNECTED) WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  while (WiFi.status() != WL_CONNECTED) delay(250);
  while (!mqtt.connect(CLIENT)) delay(1000);
  if (asking) {
    uint32_t from = llmb_stream_resume(&stream);  // before the first message can arrive
    mqtt.subscribe(response_topic, 1);
    int n = llmb_build_resume(id, from, payload, sizeof payload);
    mqtt.publish(resume_topic, (const uint8_t*)payload, n);
  }
}

void setup() {
  Serial.begin(115200);
  callbacks.on_text = on_text;
  callbacks.on_done = on_done;
  callbacks.on_error = on_error;
  llmb_build_topic("llm", "request", CLIENT, nullptr, request_topic, sizeof request_topic);
  llmb_build_topic("llm", "resume", CLIENT, nullptr, resume_topic, sizeof resume_topic);
  mqtt.setServer(BROKER, 1883);
  mqtt.setCallback(on_message);
  connect();
  ask("Why is the sky blue? One sentence.");
}

void loop() {
  if (!mqtt.connected()) connect();
  mqtt.loop();
}
