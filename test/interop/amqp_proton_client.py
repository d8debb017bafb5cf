"""Drives Ferry with Qpid Proton's Python binding (Debian's python3-qpid-proton) and prints what it
saw as one JSON object.

Usage: /usr/bin/python3 amqp_proton_client.py PORT
The Node test that runs this asserts on the JSON; this script fails on its own only when a wait
times out, so a broker that answers wrongly shows up as a wrong value, not a hang.
"""
import json
import sys
import uuid

from proton import Endpoint, Message
from proton.handlers import MessagingHandler, TransactionHandler
from proton.reactor import AtMostOnce, Container, Copy, DurableSubscription, Selector
from proton.utils import BlockingConnection

PORT = int(sys.argv[1])
URL = f'amqp://127.0.0.1:{PORT}'
TIMEOUT = 5.0
TAG = uuid.uuid4().hex[:8]
report = {}


def drain(receiver, seconds=0.3):
    """Bodies that arrive within `seconds`, each accepted."""
    bodies = []
    while True:
        try:
            m = receiver.receive(timeout=seconds)
        except Exception:
            return bodies
        bodies.append(m.body)
        receiver.accept()


def matrix():
    """The login/permission matrix (`amqp_proton_client.py PORT matrix`) against the users of test/helpers/authz-matrix.ts."""
    out = {}

    def login(user, password):
        return BlockingConnection(URL, timeout=TIMEOUT, user=user, password=password, allowed_mechs='PLAIN', allow_insecure_mechs=True)

    def refusal(make):
        try:
            make()
            return None
        except Exception as e:  # the refusal is what the test looks at
            condition = getattr(getattr(e, 'link', None), 'remote_condition', None)
            return condition.name if condition is not None else f'{type(e).__name__}: {e}'

    queue = f'matrix.proton.{TAG}'
    full = login('full', 'full-secret')
    sender = full.create_sender(queue)
    for body in ('a', 'b'):
        sender.send(Message(body=body, durable=True))
    out['good'] = True
    for name, user, password in (('wrong_password', 'full', 'proton-wrong-password'), ('unknown_user', 'proton-stranger', 'stranger-secret')):
        out[name] = refusal(lambda: login(user, password))

    def still_works(conn):
        open_queue = f'open.proton.{uuid.uuid4().hex[:8]}'
        conn.create_sender(open_queue).send(Message(body='still here'))
        receiver = conn.create_receiver(open_queue)
        body = receiver.receive(timeout=TIMEOUT).body
        receiver.accept()
        return body

    conn = login('nowrite', 'nowrite-secret')
    out['no_write'] = refusal(lambda: conn.create_sender(queue))
    relay = conn.create_sender(None)
    out['no_write_relay'] = refusal(lambda: relay.send(Message(address=queue, body='refused')))
    out['no_write_after'] = still_works(conn)
    conn.close()

    conn = login('noread', 'noread-secret')
    out['no_read'] = refusal(lambda: conn.create_receiver(queue))
    out['no_read_after'] = still_works(conn)
    conn.close()

    conn = login('nocreate', 'nocreate-secret')
    out['no_create'] = refusal(lambda: conn.create_sender(f'matrix.proton.fresh.{TAG}'))
    out['no_create_existing'] = refusal(lambda: conn.create_sender(queue).send(Message(body='c')))
    conn.close()

    conn = login('nobrowse', 'nobrowse-secret')
    out['no_browse'] = refusal(lambda: conn.create_receiver(queue, options=Copy()))
    conn.close()
    conn = login('noread', 'noread-secret')
    browser = conn.create_receiver(queue, options=Copy())
    out['browsed'] = drain(browser)
    conn.close()
    # browsing took nothing: the user with every right still finds all three
    out['left'] = drain(full.create_receiver(queue))
    full.close()
    print(json.dumps(out))


if len(sys.argv) > 2 and sys.argv[2] == 'matrix':
    matrix()
    sys.exit(0)

conn = BlockingConnection(URL, timeout=TIMEOUT, user='interop', password='secret')
report['connected'] = True

# send: blocking sends wait for the broker's settlement (unsettled, at least once)
queue = f'interop.proton.{TAG}'
sender = conn.create_sender(queue)
for i in range(1, 4):
    sender.send(Message(body=f'm{i}', durable=True, properties={'seq': i}, subject='greeting', correlation_id=f'c{i}'))

# receive: accept m1 and m3, release m2, which comes back uncounted; then fail it, which counts
receiver = conn.create_receiver(queue, credit=10)
first = [receiver.receive(timeout=TIMEOUT) for _ in range(3)]
report['received'] = [m.body for m in first]
report['seq'] = [m.properties.get('seq') for m in first]
report['subject'] = first[0].subject
report['correlation_id'] = first[0].correlation_id
report['message_durable'] = first[0].durable
receiver.accept()
receiver.release(delivered=False)
receiver.accept()
again = receiver.receive(timeout=TIMEOUT)
report['after_release'] = {'body': again.body, 'delivery_count': again.delivery_count}
# modified with delivery-failed: a counted delivery attempt
receiver.fetcher.unsettled[0].local.failed = True
receiver.release(delivered=True)
counted = receiver.receive(timeout=TIMEOUT)
report['after_failed'] = {'body': counted.body, 'delivery_count': counted.delivery_count}
receiver.accept()
report['nothing_left'] = drain(receiver)
receiver.close()

# settle modes: an at-most-once sender and an at-most-once receiver
fire = f'interop.proton.fire.{TAG}'
presettled_sender = conn.create_sender(fire, options=AtMostOnce())
for i in range(3):
    presettled_sender.send(Message(body=f'f{i}'))
presettled_receiver = conn.create_receiver(fire, credit=10, options=AtMostOnce())
report['presettled'] = [presettled_receiver.receive(timeout=TIMEOUT).body for _ in range(3)]
presettled_receiver.close()
after = conn.create_receiver(fire, credit=10)
report['presettled_nothing_left'] = drain(after)
after.close()

# selectors
colors = f'interop.proton.colors.{TAG}'
color_sender = conn.create_sender(colors)
for color, size in [('red', 1), ('blue', 2), ('red', 3)]:
    color_sender.send(Message(body=f'{color}-{size}', properties={'color': color, 'size': size}))
selective = conn.create_receiver(colors, credit=10, options=Selector("color = 'red' AND size > 1"))
report['selected'] = drain(selective)
selective.close()
rest = conn.create_receiver(colors, credit=10)
report['not_selected'] = sorted(drain(rest))
rest.close()

# a refused attach ([AMQP 2.6.3]: attach with a null target, then detach with the error) leaves the
# connection usable: the next attach, under the same link name, works
refused = {}
try:
    conn.create_sender('interop.proton.no.*.wildcards', name=f'retry-{TAG}')
    refused['refused'] = False
except Exception as e:
    refused['refused'] = type(e).__name__
retry = f'interop.proton.retry.{TAG}'
conn.create_sender(retry, name=f'retry-{TAG}').send(Message(body='after refusal'))
retry_receiver = conn.create_receiver(retry, credit=10)
refused['received'] = drain(retry_receiver)
retry_receiver.close()
report['after_refusal'] = refused

# a browser (distribution-mode copy) sees what waits in the queue and takes nothing
browsed = f'interop.proton.browse.{TAG}'
browse_sender = conn.create_sender(browsed)
for body in ['b1', 'b2']:
    browse_sender.send(Message(body=body))
browser = conn.create_receiver(browsed, credit=10, options=Copy())
report['browsed'] = drain(browser)
browser.close()
taker = conn.create_receiver(browsed, credit=10)
report['after_browse'] = drain(taker)
taker.close()
conn.close()


class Transactional(MessagingHandler, TransactionHandler):
    """Declares a transaction, sends two messages and commits; declares another, sends one and
    rolls back; then consumes one message inside a transaction that it commits."""

    def __init__(self):
        super().__init__(auto_accept=False)
        self.queue = f'interop.proton.tx.{TAG}'
        self.step = 'commit'
        self.results = {}
        self.received = []

    def on_start(self, event):
        self.container = event.container
        self.conn = event.container.connect(URL)
        self.sender = event.container.create_sender(self.conn, self.queue)
        event.container.declare_transaction(self.conn, handler=self)

    def on_transaction_declared(self, event):
        self.txn = event.transaction
        if self.step == 'commit':
            self.txn.send(self.sender, Message(body='tx-1'))
            self.txn.send(self.sender, Message(body='tx-2'))
            self.txn.commit()
        elif self.step == 'abort':
            self.txn.send(self.sender, Message(body='tx-aborted'))
            self.txn.abort()
        elif self.step == 'consume':
            self.receiver = self.container.create_receiver(self.conn, self.queue)

    def on_transaction_committed(self, event):
        if self.step == 'commit':
            self.results['committed'] = True
            self.step = 'abort'
            self.container.declare_transaction(self.conn, handler=self)
        elif self.step == 'consume':
            self.results['consumed_in_tx'] = self.received
            self.conn.close()

    def on_transaction_aborted(self, event):
        self.results['aborted'] = True
        self.step = 'consume'
        self.container.declare_transaction(self.conn, handler=self)

    def on_transaction_declare_failed(self, event):
        self.results['declare_failed'] = True
        self.conn.close()

    def on_message(self, event):
        self.received.append(event.message.body)
        self.txn.accept(event.delivery)
        if len(self.received) == 2:
            self.receiver.close()
            self.txn.commit()


handler = Transactional()
Container(handler).run()
report['transactions'] = handler.results

# what the transaction left behind: nothing
check = BlockingConnection(URL, timeout=TIMEOUT)
left = check.create_receiver(handler.queue, credit=10)
report['after_transactions'] = drain(left)

# a durable subscription, by link name under the container id, kept while the client is away
check.close()
topic = f'topic://interop.proton.durable.{TAG}'
named = Container()
named.container_id = f'proton-{TAG}'
durable_conn = BlockingConnection(URL, timeout=TIMEOUT, container=named)
sub = durable_conn.create_receiver(topic, name='proton-sub', credit=10, options=DurableSubscription())


class DetachAnswer:
    """The broker's answer to a detach that does not close: a detach too, so the link is not remote-closed."""
    detached = False

    def on_link_remote_detach(self, event):
        self.detached = True


# a detach that does not close the link leaves the subscription in place
answer = DetachAnswer()
sub.link.handler = answer
sub.link.detach()
durable_conn.wait(lambda: answer.detached, msg='detaching')
publisher = BlockingConnection(URL, timeout=TIMEOUT)
publisher.create_sender(topic).send(Message(body='while away', durable=True))
publisher.close()
sub = durable_conn.create_receiver(topic, name='proton-sub', credit=10, options=DurableSubscription())
report['durable'] = drain(sub)
sub.close()
durable_conn.close()

print(json.dumps(report))
