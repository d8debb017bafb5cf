"""Logs in to Ferry's AMQP TLS listener with SASL EXTERNAL and a client certificate, using Debian's
python3-qpid-proton; receives one message from a queue and tries to send to it, and prints what
happened as one JSON line: {"mechanism", "received", "send"}.

usage: amqp_proton_external.py PORT QUEUE CA CERT KEY"""
import json
import sys

from proton import Message, SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import Container

PORT, QUEUE, CA, CERT, KEY = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
report = {}


class Handler(MessagingHandler):
    def on_start(self, event):
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        domain.set_trusted_ca_db(CA)
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, CA)
        domain.set_credentials(CERT, KEY, None)
        conn = event.container.connect(f'amqps://localhost:{PORT}', ssl_domain=domain, reconnect=False, sasl_enabled=True, allowed_mechs='EXTERNAL')
        event.container.create_receiver(conn, QUEUE)

    def on_connection_opened(self, event):
        report['mechanism'] = event.transport.sasl().mech

    def on_message(self, event):
        report['received'] = event.message.body
        # then a send, which the certificate's user may not do
        event.container.create_sender(event.connection, QUEUE)

    def on_sendable(self, event):
        if 'send' not in report:
            report['send'] = 'sendable'
            event.sender.send(Message(body='not allowed'))

    def on_link_error(self, event):
        report['send'] = str(event.link.remote_condition.name)
        event.connection.close()

    def on_transport_error(self, event):
        report['error'] = str(event.transport.condition)
        event.connection.close()


Container(Handler()).run()
print(json.dumps(report))
