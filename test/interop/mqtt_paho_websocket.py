"""paho (Debian's python3-paho-mqtt) over WebSocket, staying connected: connects and subscribes once,
prints "ready", waits for a line on stdin (the test lets the broker's ping sweeps pass meanwhile),
then publishes a QoS 0 message to itself and prints a JSON report of what it saw."""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
topic = "paho/ws/%d" % int(time.time() * 1000)

if hasattr(mqtt, "CallbackAPIVersion"):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id="paho-ws-%d" % int(time.time() * 1000), transport="websockets")
else:
    client = mqtt.Client(client_id="paho-ws-%d" % int(time.time() * 1000), transport="websockets")
client.ws_set_options(path="/mqtt")
client.reconnect_delay_set(1, 1)

report = {"connects": 0, "disconnects": [], "received": []}
connected = threading.Event()
subscribed = threading.Event()
got = threading.Event()


def on_connect(c, userdata, flags, rc, properties=None):
    report["connects"] += 1
    connected.set()


def on_disconnect(c, userdata, rc, properties=None):
    report["disconnects"].append(int(rc))


def on_subscribe(c, userdata, mid, granted, properties=None):
    subscribed.set()


def on_message(c, userdata, msg):
    report["received"].append(msg.payload.decode())
    got.set()


client.on_connect = on_connect
client.on_disconnect = on_disconnect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect("127.0.0.1", port, keepalive=60)
client.loop_start()
if not connected.wait(5):
    sys.exit("no CONNACK")
# once, not in on_connect: a clean session lost to a dropped connection loses it for good
client.subscribe(topic, qos=0)
if not subscribed.wait(5):
    sys.exit("no SUBACK")
print("ready", flush=True)
sys.stdin.readline()
client.publish(topic, "still subscribed", qos=0)
got.wait(5)
client.disconnect()
client.loop_stop()
print(json.dumps(report), flush=True)
