"""Talks to Ferry with Eclipse paho (Debian's python3-paho-mqtt), MQTT 3.1.1 and 5.0; prints a JSON report."""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

port = int(sys.argv[1])


def make_client(client_id, protocol):
    # paho 2.x wants the callback API version first; 1.6 has no such argument
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id=client_id, protocol=protocol)
    return mqtt.Client(client_id=client_id, protocol=protocol)


class Collector:
    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()

    def on_message(self, client, userdata, msg):
        with self.cond:
            user = {}
            props = getattr(msg, "properties", None)
            if props is not None and hasattr(props, "UserProperty"):
                user = dict(props.UserProperty)
            self.messages.append({"topic": msg.topic, "payload": msg.payload.decode(), "qos": msg.qos, "retain": bool(msg.retain), "user": user})
            self.cond.notify_all()

    def wait(self, n, timeout=5.0):
        deadline = time.time() + timeout
        with self.cond:
            while len(self.messages) < n and time.time() < deadline:
                self.cond.wait(deadline - time.time())
            taken = self.messages[:n]
            del self.messages[:n]
            return taken


def connect(client_id, protocol, clean=True):
    c = make_client(client_id, protocol)
    connected = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, rc, properties=None):
        result["rc"] = int(rc) if not hasattr(rc, "value") else rc.value
        result["session_present"] = bool(flags.get("session present", 0)) if isinstance(flags, dict) else bool(getattr(flags, "session_present", False))
        connected.set()

    c.on_connect = on_connect
    if protocol == mqtt.MQTTv5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0 if clean else 300
        c.connect("127.0.0.1", port, keepalive=30, clean_start=clean, properties=props)
    else:
        c.reinitialise(client_id=client_id, clean_session=clean)
        c.on_connect = on_connect
        c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    if not connected.wait(5):
        raise RuntimeError("no CONNACK")
    return c, result


def run(protocol, tag):
    out = {}
    collector = Collector()
    sub, info = connect("paho-sub-" + tag, protocol)
    out["connack_rc"] = info["rc"]
    sub.on_message = collector.on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.subscribe([("paho/" + tag + "/+", 2)])
    subscribed.wait(5)
    pub, _ = connect("paho-pub-" + tag, protocol)
    for qos in (0, 1, 2):
        if protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = ("origin", "paho")
            info = pub.publish("paho/" + tag + "/q" + str(qos), "m" + str(qos), qos=qos, properties=props)
        else:
            info = pub.publish("paho/" + tag + "/q" + str(qos), "m" + str(qos), qos=qos)
        info.wait_for_publish(5)
    got = collector.wait(3)
    out["received"] = sorted((m["payload"], m["qos"]) for m in got)
    out["user"] = [m["user"] for m in got]
    pub.publish("paho/" + tag + "/retained", "kept", qos=1, retain=True).wait_for_publish(5)
    collector.wait(1)
    late_collector = Collector()
    late, _ = connect("paho-late-" + tag, protocol)
    late.on_message = late_collector.on_message
    late.subscribe("paho/" + tag + "/retained", 1)
    retained = late_collector.wait(1)
    out["retained"] = [(m["payload"], m["retain"]) for m in retained]
    pub.publish("paho/" + tag + "/retained", "", qos=1, retain=True).wait_for_publish(5)
    for c in (sub, pub, late):
        c.disconnect()
        c.loop_stop()

    # a persistent session collects QoS 1 messages while its client is away
    away, info = connect("paho-away-" + tag, protocol, clean=False)
    away.subscribe("paho/" + tag + "/away", 1)
    time.sleep(0.2)
    away.disconnect()
    away.loop_stop()
    pub, _ = connect("paho-pub2-" + tag, protocol)
    pub.publish("paho/" + tag + "/away", "while away", qos=1).wait_for_publish(5)
    pub.disconnect()
    pub.loop_stop()
    back_collector = Collector()
    back = make_client("paho-away-" + tag, protocol)
    back.on_message = back_collector.on_message
    done = threading.Event()
    flags_seen = {}

    def on_connect(client, userdata, flags, rc, properties=None):
        flags_seen["session_present"] = bool(flags.get("session present", 0)) if isinstance(flags, dict) else bool(getattr(flags, "session_present", False))
        done.set()

    back.on_connect = on_connect
    if protocol == mqtt.MQTTv5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        back.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
    else:
        back.reinitialise(client_id="paho-away-" + tag, clean_session=False)
        back.on_connect = on_connect
        back.on_message = back_collector.on_message
        back.connect("127.0.0.1", port, keepalive=30)
    back.loop_start()
    done.wait(5)
    out["session_present"] = flags_seen.get("session_present")
    out["while_away"] = [m["payload"] for m in back_collector.wait(1)]
    back.disconnect()
    back.loop_stop()
    return out


def code_of(rc):
    return rc.value if hasattr(rc, "value") else int(rc)


def login(user, password, protocol, tag):
    """Connects with credentials; returns the client (or None when refused), the CONNACK code and a closed event."""
    c = make_client("paho-matrix-" + tag, protocol)
    c.username_pw_set(user, password)
    connected = threading.Event()
    closed = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, rc, properties=None):
        result["rc"] = code_of(rc)
        connected.set()

    c.on_connect = on_connect
    c.on_disconnect = lambda *args: closed.set()
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    if not connected.wait(5):
        raise RuntimeError("no CONNACK")
    if result["rc"] != 0:
        closed.wait(5)
        c.loop_stop()
        return None, result["rc"], closed
    return c, 0, closed


def suback(c, filters):
    got = {}
    done = threading.Event()

    def on_subscribe(client, userdata, mid, granted, properties=None):
        got["codes"] = [code_of(g) for g in granted]
        done.set()

    c.on_subscribe = on_subscribe
    c.subscribe([(f, 1) for f in filters])
    done.wait(5)
    return got.get("codes")


def matrix(protocol, tag):
    """The login/permission matrix against the users of test/helpers/authz-matrix.ts."""
    out = {}
    topic = "matrix/paho/" + tag
    full, rc, _ = login("full", "full-secret", protocol, tag + "-full")
    collector = Collector()
    full.on_message = collector.on_message
    out["good_suback"] = suback(full, [topic, "open/paho/" + tag])
    full.publish(topic, "hello", qos=1).wait_for_publish(5)
    out["good_received"] = [m["payload"] for m in collector.wait(1)]
    out["wrong_password"] = login("full", "paho-wrong-password", protocol, tag + "-wrong")[1]
    out["unknown_user"] = login("paho-stranger", "stranger-secret", protocol, tag + "-unknown")[1]

    reader, _, _ = login("noread", "noread-secret", protocol, tag + "-noread")
    out["no_read_suback"] = suback(reader, [topic, "open/paho/" + tag + "/r"])
    reader.disconnect()
    reader.loop_stop()

    creator, _, _ = login("nocreate", "nocreate-secret", protocol, tag + "-nocreate")
    out["no_create_suback"] = suback(creator, ["matrix/paho/fresh/" + tag, "matrix/paho/+"])
    creator.disconnect()
    creator.loop_stop()

    writer, _, closed = login("nowrite", "nowrite-secret", protocol, tag + "-nowrite")
    writer.publish(topic, "refused", qos=1)
    writer.publish("open/paho/" + tag, "allowed", qos=1)
    # MQTT 5 refuses the one message and goes on; 3.1.1 closes the connection
    got = collector.wait(1, timeout=3)
    out["no_write_first_seen"] = [m["payload"] for m in got]
    out["no_write_closed"] = closed.wait(0.5 if protocol == mqtt.MQTTv5 else 5)
    writer.loop_stop()
    full.disconnect()
    full.loop_stop()
    return out


import paho.mqtt

if len(sys.argv) > 2 and sys.argv[2] == "matrix":
    print(json.dumps({"v311": matrix(mqtt.MQTTv311, "v311"), "v5": matrix(mqtt.MQTTv5, "v5")}))
    sys.exit(0)

report = {"paho": paho.mqtt.__version__}
report["v311"] = run(mqtt.MQTTv311, "v311")
report["v5"] = run(mqtt.MQTTv5, "v5")
print(json.dumps(report))
