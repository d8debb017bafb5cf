"""Drives Ferry's TLS listeners with stomp.py, paho and qpid-proton (Debian's python3-stomp,
python3-paho-mqtt, python3-qpid-proton), each presenting a client certificate, and prints what each
saw as one JSON object.

Usage: /usr/bin/python3 tls_clients.py STOMP_PORT MQTT_PORT AMQP_PORT CA CERT KEY
Each client trusts CA, presents CERT/KEY, sends one message to itself and receives it back. A
client that fails reports its error instead of a body, so the Node test shows which one failed.
"""
import json
import queue
import ssl
import sys
import threading

STOMP_PORT, MQTT_PORT, AMQP_PORT = (int(p) for p in sys.argv[1:4])
CA, CERT, KEY = sys.argv[4:7]
TIMEOUT = 5.0
report = {}


def stomp_py():
    import stomp

    received = queue.Queue()

    errors = []

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame):
            received.put(frame.body)

        # what the broker said, or how the socket ended, so that a failed connect names its cause
        def on_error(self, frame):
            errors.append('ERROR ' + frame.headers.get('code', '') + ' ' + frame.headers.get('message', ''))

        def on_disconnected(self):
            errors.append('disconnected')

    def connect():
        conn = stomp.Connection12([('localhost', STOMP_PORT)])
        conn.set_ssl(for_hosts=[('localhost', STOMP_PORT)], ca_certs=CA, cert_file=CERT, key_file=KEY)
        conn.set_listener('', Listener())
        conn.connect(wait=True, headers={'host': 'localhost'})
        return conn

    # stomp.py's receiver thread reads the SSL socket while its caller writes CONNECT on it, and on a
    # loaded 2-core machine that CONNECT is sometimes never sent (the broker then answers with its
    # CONNECT time-out; a Node TLS client making the same connects under the same load never misses),
    # or Python's ssl module fails the write with "[SSL] internal error", since one SSL socket is not
    # safe to read and write from two threads at once: one more attempt, and the first attempt's
    # failure is kept if the second fails too
    try:
        conn = connect()
    except (stomp.exception.ConnectFailedException, ssl.SSLError) as err:
        first = '; '.join(errors) or repr(err)
        errors.clear()
        try:
            conn = connect()
        except (stomp.exception.ConnectFailedException, ssl.SSLError) as err:
            raise RuntimeError('connect failed twice: ' + first + ' / ' + ('; '.join(errors) or repr(err))) from err
    conn.subscribe('/queue/interop.tls.stomp', id='1', ack='auto', headers={'receipt': 'sub'})
    conn.send('/queue/interop.tls.stomp', 'stomp.py over tls')
    body = received.get(timeout=TIMEOUT)
    conn.disconnect()
    return body


def paho():
    import paho.mqtt.client as mqtt

    received = queue.Queue()
    subscribed = threading.Event()
    connected = threading.Event()
    try:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id='interop-tls-paho')
    except AttributeError:  # paho 1.x
        client = mqtt.Client(client_id='interop-tls-paho')
    client.tls_set(ca_certs=CA, certfile=CERT, keyfile=KEY, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.on_connect = lambda *args: connected.set()
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda c, u, m: received.put(m.payload.decode('utf8'))
    client.connect('localhost', MQTT_PORT)
    client.loop_start()
    try:
        if not connected.wait(TIMEOUT):
            raise RuntimeError('no CONNACK')
        client.subscribe('interop/tls/paho', qos=1)
        if not subscribed.wait(TIMEOUT):
            raise RuntimeError('no SUBACK')
        client.publish('interop/tls/paho', 'paho over tls', qos=1)
        return received.get(timeout=TIMEOUT)
    finally:
        client.disconnect()
        client.loop_stop()


def proton():
    from proton import Message, SSLDomain
    from proton.handlers import MessagingHandler
    from proton.reactor import Container

    class Handler(MessagingHandler):
        def __init__(self):
            super().__init__()
            self.body = None

        def on_start(self, event):
            domain = SSLDomain(SSLDomain.MODE_CLIENT)
            domain.set_trusted_ca_db(CA)
            domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, CA)
            domain.set_credentials(CERT, KEY, None)
            conn = event.container.connect(f'amqps://localhost:{AMQP_PORT}', ssl_domain=domain, reconnect=False, sasl_enabled=False)
            event.container.create_receiver(conn, 'interop.tls.proton')
            event.container.create_sender(conn, 'interop.tls.proton')

        def on_sendable(self, event):
            if self.body is None and event.sender.credit > 0 and not getattr(self, 'sent', False):
                self.sent = True
                event.sender.send(Message(body='proton over amqps'))

        def on_message(self, event):
            self.body = event.message.body
            event.connection.close()

        def on_transport_error(self, event):
            self.body = 'error: ' + str(event.transport.condition)
            event.connection.close()

    handler = Handler()
    Container(handler).run()
    return handler.body


for name, client in (('stomp.py', stomp_py), ('paho', paho), ('qpid-proton', proton)):
    try:
        report[name] = client()
    except Exception as err:  # reported, so the test names the client that failed
        report[name] = f'error: {type(err).__name__}: {err}'

print(json.dumps(report))
