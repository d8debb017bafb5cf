"""Drives Ferry with stomp.py (Debian's python3-stomp) and prints what it saw as one JSON object.

Usage: /usr/bin/python3 stomp_py_client.py PORT
The Node test that runs this asserts on the JSON; this script only fails on its own when a wait
times out, so a broker that answers wrongly shows up as a wrong value, not a hang.
"""
import json
import queue
import sys
import threading

import stomp

PORT = int(sys.argv[1])
TIMEOUT = 5.0


class Collector(stomp.ConnectionListener):
    def __init__(self):
        self.messages = queue.Queue()
        self.receipts = {}
        self.errors = []
        self.lock = threading.Lock()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        with self.lock:
            event = self.receipts.setdefault(frame.headers['receipt-id'], threading.Event())
        event.set()

    def on_error(self, frame):
        self.errors.append(frame.headers.get('message', frame.body))

    def receipt(self, rid):
        with self.lock:
            return self.receipts.setdefault(rid, threading.Event())

    def next(self, timeout=TIMEOUT):
        return self.messages.get(timeout=timeout)

    def nothing_within(self, seconds):
        try:
            frame = self.messages.get(timeout=seconds)
            return frame.body
        except queue.Empty:
            return None


def confirmed(conn, listener, rid, call):
    event = listener.receipt(rid)
    call()
    if not event.wait(TIMEOUT):
        raise SystemExit(f'no RECEIPT {rid} within {TIMEOUT}s')


def matrix():
    """The login/permission matrix (`stomp_py_client.py PORT matrix`) against the users of test/helpers/authz-matrix.ts."""
    out = {}

    def attempt(user, password, act=None):
        collector = Collector()
        disconnected = threading.Event()
        collector.on_disconnected = disconnected.set
        errors = []
        collector.on_error = lambda frame: errors.append(dict(frame.headers))
        conn = stomp.Connection12([('127.0.0.1', PORT)])
        conn.set_listener('matrix', collector)
        try:
            conn.connect(user, password, wait=True)
        except stomp.exception.ConnectFailedException:
            pass
        result = {'connected': conn.is_connected()}
        if result['connected'] and act is not None:
            result['done'] = act(conn, collector)
        disconnected.wait(TIMEOUT)
        result['closed'] = disconnected.is_set()
        result['errors'] = [{k: e.get(k) for k in ('code', 'receipt-id', 'message')} for e in errors]
        if conn.is_connected():
            conn.disconnect()
        return result

    def good(conn, collector):
        confirmed(conn, collector, 'g1', lambda: conn.send('/queue/matrix.py.good', 'hello', headers={'receipt': 'g1'}))
        conn.subscribe('/queue/matrix.py.good', id='s')
        body = collector.next().body
        conn.disconnect()
        return body

    # a queue that exists, made by the user with every right
    attempt('full', 'full-secret', lambda conn, collector: (confirmed(conn, collector, 'm1', lambda: conn.send('/queue/matrix.py.exists', 'kept', headers={'receipt': 'm1'})), conn.disconnect()))
    out['good'] = attempt('full', 'full-secret', good)
    out['wrong_password'] = attempt('full', 'py-wrong-password')
    out['unknown_user'] = attempt('py-stranger', 'stranger-secret')
    out['no_write'] = attempt('nowrite', 'nowrite-secret', lambda conn, c: conn.send('/queue/matrix.py.exists', 'x', headers={'receipt': 'w1'}))
    out['no_read'] = attempt('noread', 'noread-secret', lambda conn, c: conn.subscribe('/queue/matrix.py.exists', id='s', headers={'receipt': 'r1'}))
    out['no_create'] = attempt('nocreate', 'nocreate-secret', lambda conn, c: conn.send('/queue/matrix.py.fresh', 'x', headers={'receipt': 'c1'}))
    out['no_browse'] = attempt('nobrowse', 'nobrowse-secret', lambda conn, c: conn.subscribe('/queue/matrix.py.exists', id='b', headers={'browser': 'true', 'receipt': 'b1'}))

    def browse(conn, collector):
        conn.subscribe('/queue/matrix.py.exists', id='b', headers={'browser': 'true'})
        seen = [collector.next().body, collector.next().headers.get('browser')]
        conn.disconnect()
        return seen

    out['browse'] = attempt('noread', 'noread-secret', browse)
    print(json.dumps(out))


if len(sys.argv) > 2 and sys.argv[2] == 'matrix':
    matrix()
    sys.exit(0)

report = {}
listener = Collector()
conn = stomp.Connection12([('127.0.0.1', PORT)])
conn.set_listener('collector', listener)
conn.connect(wait=True, headers={'client-id': 'stomp-py-interop'})
report['connected'] = conn.is_connected()

# send with receipts; the broker keeps them until a consumer comes
for i in range(1, 4):
    confirmed(conn, listener, f's{i}', lambda i=i: conn.send('/queue/interop.py', f'm{i}', headers={'receipt': f's{i}', 'seq': str(i), 'persistent': 'true'}))

# client-individual: ack 1 and 3; nack 2, which is poison and goes to the dead-letter queue (as in ActiveMQ)
conn.subscribe('/queue/interop.py', id='sub1', ack='client-individual')
first = [listener.next() for _ in range(3)]
report['received'] = [f.body for f in first]
report['seq'] = [f.headers.get('seq') for f in first]
by_body = {f.body: f for f in first}
conn.ack(by_body['m1'].headers['ack'])
conn.ack(by_body['m3'].headers['ack'])
conn.nack(by_body['m2'].headers['ack'])
report['nothing_after_acks'] = listener.nothing_within(0.3)
conn.subscribe('/queue/ActiveMQ.DLQ', id='dlq', ack='client-individual')
dead = listener.next()
report['dead_letter'] = {
    'body': dead.body,
    'original-destination': dead.headers.get('original-destination'),
    'dlqDeliveryFailureCause': dead.headers.get('dlqDeliveryFailureCause'),
}
confirmed(conn, listener, 'a2', lambda: conn.ack(dead.headers['ack'], receipt='a2'))
conn.unsubscribe(id='dlq')

# a transaction: the send is invisible until commit
conn.begin(transaction='tx1')
conn.send('/queue/interop.py', 'in-tx', transaction='tx1')
report['before_commit'] = listener.nothing_within(0.3)
confirmed(conn, listener, 'c1', lambda: conn.commit(transaction='tx1', receipt='c1'))
committed = listener.next()
report['after_commit'] = committed.body

# an ack inside an aborted transaction does not count: the message comes back redelivered
conn.begin(transaction='tx2')
conn.ack(committed.headers['ack'], transaction='tx2')
confirmed(conn, listener, 'ab', lambda: conn.abort(transaction='tx2', receipt='ab'))
back = listener.next()
report['after_abort'] = {'body': back.body, 'redelivered': back.headers.get('redelivered')}
confirmed(conn, listener, 'a3', lambda: conn.ack(back.headers['ack'], receipt='a3'))

report['errors'] = listener.errors
conn.disconnect()
print(json.dumps(report))
