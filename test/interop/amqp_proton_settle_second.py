"""Receives with rcv-settle-mode second from a Qpid Proton receiver: accepts each delivery without
settling it, once as accepted and once as rejected, and prints as JSON the outcome the broker's
settling disposition carried for each (None when it carried none).

Usage: /usr/bin/python3 amqp_proton_settle_second.py PORT
"""
import json
import sys
import uuid

from proton import Condition, Delivery, Link, Message
from proton.handlers import MessagingHandler
from proton.reactor import Container, LinkOption

PORT = int(sys.argv[1])
QUEUE = f'settle-second.{uuid.uuid4().hex[:8]}'
NAMES = {Delivery.ACCEPTED: 'accepted', Delivery.REJECTED: 'rejected', Delivery.RELEASED: 'released', Delivery.MODIFIED: 'modified'}


class SettleSecond(LinkOption):
    def apply(self, link):
        link.rcv_settle_mode = Link.RCV_SECOND


class Receiver(MessagingHandler):
    def __init__(self):
        super().__init__(auto_accept=False, auto_settle=False)
        self.sent = 0
        self.outcomes = []
        self.report = {}

    def on_start(self, event):
        self.conn = event.container.connect(f'amqp://127.0.0.1:{PORT}')
        self.sender = event.container.create_sender(self.conn, QUEUE)
        self.receiver = event.container.create_receiver(self.conn, QUEUE, options=SettleSecond())
        # the answer that never comes ends the run too, reported as missing
        self.timer = event.container.schedule(10, self)

    def on_link_opened(self, event):
        if event.link.is_receiver:
            self.report['rcv_settle_mode_second'] = event.link.remote_rcv_settle_mode == Link.RCV_SECOND

    def on_sendable(self, event):
        while event.sender.credit > 0 and self.sent < 2:
            event.sender.send(Message(body=f'm{self.sent}'))
            self.sent += 1

    def on_message(self, event):
        if event.message.body == 'm0':
            event.delivery.update(Delivery.ACCEPTED)
        else:
            event.delivery.local.condition = Condition('amqp:internal-error', 'refused')
            event.delivery.update(Delivery.REJECTED)

    def on_settled(self, event):
        if not event.link.is_receiver:
            return
        state = event.delivery.remote_state
        # Proton reads a disposition without a state as 0
        self.outcomes.append(NAMES.get(state, None if not state else str(state)))
        event.delivery.settle()
        if len(self.outcomes) == 2:
            self.finish()

    def on_timer_task(self, event):
        self.finish()

    def finish(self):
        self.timer.cancel()
        # in the order the broker settled them, which need not be the order they came
        self.report['outcomes'] = sorted(self.outcomes, key=str)
        self.conn.close()


handler = Receiver()
Container(handler).run()
print(json.dumps(handler.report))
