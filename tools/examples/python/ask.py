#!/usr/bin/env python3
"""Ask llm-mqtt-bridge one question and print the answer as it streams in.

A device-side client in one file, on paho-mqtt (1.6 or 2.x) and the standard library; the events
are described in protocol/PROTOCOL.md. When the connection drops mid-answer it connects again
(clean session), subscribes again and asks the bridge to resume the stream from the first seq it
lacks. Exit codes, as `llm-mqtt ask`: 0 answered, 1 error event (`gone`: the bridge no longer
holds the answer), 2 broker unreachable or refused, 3 events lost, byte count wrong or no answer
in time, 130 cancelled (Ctrl-C).

    ask.py --host 127.0.0.1 --client dev1 --max-packet 256 "Why is the sky blue?"
"""
import argparse
import json
import secrets
import signal
import sys
import time

import paho.mqtt.client as mqtt

CANCEL_WAIT_S = 10  # after a cancel, how long to wait for the bridge's terminal event
RECONNECT_S = 0.5  # between attempts to connect again after the connection dropped


def warn(text):
    print(f"ask.py: {text}", file=sys.stderr, flush=True)


class Stream:
    """Where one request's response stream stands: the next seq expected and the answer so far
    (UTF-8 bytes, as done.bytes counts them), plus messages that came early and frags being
    joined. Resuming after a reconnect needs exactly this."""

    def __init__(self, rid):
        self.id, self.next_seq, self.text, self.lost = rid, 0, bytearray(), False
        self.early, self.frags = {}, []
        # After a resume, live events may come before the replay of what was missed: a gap is
        # then no loss until the replay has reached next_seq.
        self.resuming = False

    def take(self, msg):
        """Takes one message as it arrived; returns the events now due, in seq order."""
        if msg["seq"] < self.next_seq or msg["seq"] in self.early:
            return []  # a QoS 1 repeat
        self.early[msg["seq"]] = msg
        if msg["seq"] == self.next_seq:
            self.resuming = False
        if not self.resuming and self.next_seq not in self.early and any(
                m["type"] in ("done", "error") or m.get("of") in ("done", "error")
                for m in self.early.values()):
            # Nothing follows a terminal, so what is missing before it will never come.
            warn(f"lost events: seq {self.next_seq} to {min(self.early) - 1}")
            self.next_seq, self.lost = min(self.early), True
        due = []
        while self.next_seq in self.early:
            m = self.early.pop(self.next_seq)
            self.next_seq += 1
            if m["type"] != "frag":
                due.append(m)
                continue
            # An event too large for one packet: the data of its frags, joined, is its JSON.
            self.frags = (self.frags if m["part"] else []) + [m["data"]]
            if len(self.frags) == m["parts"]:
                due.append(json.loads("".join(self.frags)))
        return due


def handle(stream, ev, out):
    """Acts on one event; returns the exit code once the stream has ended, else None."""
    t = ev["type"]
    if t == "chunk" and "text" in ev:  # reasoning chunks are not part of the answer
        data = ev["text"].encode("utf-8")
        stream.text += data
        out.write(data)
        out.flush()
    elif t == "status":
        warn(ev["status"] + (f" (position {ev['position']})" if "position" in ev else ""))
    elif t == "done":
        if out.isatty() and not stream.text.endswith(b"\n"):
            out.write(b"\n")
            out.flush()
        if stream.lost or ev["bytes"] != len(stream.text):
            warn(f"incomplete answer: {len(stream.text)} bytes arrived, done says {ev['bytes']}")
            return 3
        if ev["finish_reason"] == "cancelled":
            warn("cancelled")
            return 130
        return 0
    elif t == "error":
        after = f", after {ev['retry_after_ms']} ms" if "retry_after_ms" in ev else ""
        again = f"retryable{after}" if ev.get("retryable") else "not retryable"
        warn(f"error {ev['code']}: {ev['message']} ({again})")
        return 1
    return None  # start, tool_calls, and types this client does not know


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, help="default 1883, or 8883 with --ca")
    p.add_argument("--client", default="dev1", help="the {client} level of the topics")
    p.add_argument("--prefix", default="llm")
    p.add_argument("--max-packet", type=int, help="the largest MQTT packet to receive (>= 128)")
    p.add_argument("--id", default="py-" + secrets.token_hex(4), help="the request id")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--ca", help="CA certificate file: connect with TLS")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the answer")
    p.add_argument("prompt")
    a = p.parse_args()

    stream, out = Stream(a.id), sys.stdout.buffer
    st = {"code": None, "asked": False}
    request = {"id": a.id, "prompt": a.prompt}
    if a.max_packet:
        request["max_packet"] = a.max_packet

    # paho-mqtt 2.x asks which callback signatures the code uses; 1.x knows only one set.
    v2 = {"callback_api_version": mqtt.CallbackAPIVersion.VERSION2} \
        if hasattr(mqtt, "CallbackAPIVersion") else {}
    client = mqtt.Client(**v2)
    if a.username:
        client.username_pw_set(a.username, a.password)
    if a.ca:
        client.tls_set(ca_certs=a.ca)

    def on_connect(c, _userdata, _flags, rc, *_properties):
        if rc != 0:
            warn(f"the broker refused the connection: {mqtt.connack_string(rc)}")
            st["code"] = 2
        else:
            # Subscribe before asking (events published before the subscription are not kept),
            # and again on every reconnect: a clean session starts with no subscription.
            c.subscribe(f"{a.prefix}/response/{a.client}/{a.id}", qos=1)

    def on_subscribe(c, *_):
        if not st["asked"]:
            st["asked"] = True
            c.publish(f"{a.prefix}/request/{a.client}", json.dumps(request), qos=1)
        else:
            # Back after a drop: the bridge publishes the stream again from the first seq this
            # client lacks, then it goes on live (repeats are dropped by seq).
            warn(f"resuming from seq {stream.next_seq}")
            stream.resuming = True
            resume = {"id": a.id, "from_seq": stream.next_seq}
            c.publish(f"{a.prefix}/resume/{a.client}", json.dumps(resume), qos=1)

    def on_message(_c, _userdata, msg):
        for ev in stream.take(json.loads(msg.payload)):
            if st["code"] is None:
                st["code"] = handle(stream, ev, out)

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        client.connect(a.host, a.port or (8883 if a.ca else 1883))
    except OSError as e:
        warn(f"cannot connect to {a.host}: {e}")
        return 2

    # Ctrl-C only sets a flag, and the loop sends the cancel; a second Ctrl-C quits at once.
    interrupts = []
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130) if interrupts else interrupts.append(1))
    deadline, cancelled = time.monotonic() + a.timeout, False
    while st["code"] is None:  # callbacks run inside client.loop(), on this thread
        if interrupts and not cancelled:
            warn("cancelling")
            client.publish(f"{a.prefix}/cancel/{a.client}", json.dumps({"id": a.id}), qos=1)
            deadline, cancelled = min(deadline, time.monotonic() + CANCEL_WAIT_S), True
        if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
            if not st["asked"]:
                warn("the connection to the broker was lost")
                st["code"] = 2
                break
            warn("the connection to the broker was lost: connecting again")
            while time.monotonic() < deadline and not interrupts:
                try:
                    client.reconnect()  # on_connect subscribes, on_subscribe resumes
                    break
                except OSError:
                    time.sleep(RECONNECT_S)
        if time.monotonic() > deadline:
            warn("no end of the answer in time")
            st["code"] = 130 if cancelled else 3
    client.disconnect()
    return st["code"]


if __name__ == "__main__":
    sys.exit(main())
