"""Detaches (without closing) a Qpid Proton receiver of a durable subscription and of a queue, then
closes one, and prints as JSON whether the broker answered each with a detach or a close.

Usage: /usr/bin/python3 amqp_proton_detach.py PORT
"""
import json
import sys
import uuid

from proton import Message, Terminus
from proton.handlers import MessagingHandler
from proton.reactor import Container, LinkOption

PORT = int(sys.argv[1])
TAG = uuid.uuid4().hex[:8]


class Durable(LinkOption):
    def apply(self, link):
        link.source.durability = Terminus.DELIVERIES
        link.source.expiry_policy = Terminus.EXPIRE_NEVER


class Detacher(MessagingHandler):
    """Attaches each receiver, then detaches (or closes) it, noting how the broker answered."""

    def __init__(self):
        super().__init__()
        self.answers = {}
        self.kept = []
        self.steps = [
            ('durable_detach', f'topic://detach.{TAG}', 'sub', Durable(), False),
            ('queue_detach', f'detach.{TAG}', 'plain', None, False),
            ('queue_close', f'detach.{TAG}', 'closing', None, True),
            ('durable_again', f'topic://detach.{TAG}', 'sub', Durable(), None),
        ]

    def on_start(self, event):
        self.conn = event.container.connect(f'amqp://127.0.0.1:{PORT}')
        self.next_step(event.container)

    def next_step(self, container):
        if not self.steps:
            self.conn.close()
            return
        self.step = self.steps.pop(0)
        name, address, link_name, option, _ = self.step
        container.create_receiver(self.conn, address, name=link_name, options=option)

    def on_link_opened(self, event):
        if not event.link.is_receiver:
            return
        name, address, _, _, close = self.step
        if name == 'durable_again':
            # the subscription outlived the detach: a message published now is kept for it
            self.receiver = event.receiver
            event.container.create_sender(self.conn, address).send(Message(body='kept'))
            return
        if close:
            event.receiver.close()
        else:
            event.receiver.detach()

    def on_link_remote_detach(self, event):
        self.answers[self.step[0]] = 'detach'
        self.next_step(event.container)

    def on_link_remote_close(self, event):
        if event.link.is_receiver and self.step[0] not in self.answers:
            self.answers[self.step[0]] = 'close'
            self.next_step(event.container)

    def on_message(self, event):
        self.kept.append(event.message.body)
        self.receiver.close()
        self.next_step(event.container)


handler = Detacher()
container = Container(handler)
container.container_id = f'proton-detach-{TAG}'
container.run()
print(json.dumps({'answers': handler.answers, 'kept': handler.kept}))
