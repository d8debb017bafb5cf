"""pika against Ferry's AMQP 0-9-1: the main paths, reported as one JSON line."""
import json
import sys

import pika

port = int(sys.argv[1])
params = pika.ConnectionParameters(host='127.0.0.1', port=port, credentials=pika.PlainCredentials('guest', 'guest'))
conn = pika.BlockingConnection(params)
ch = conn.channel()
report = {}

# declare, bind, publish with confirms, consume with acks
ch.exchange_declare('pika.orders', exchange_type='topic', durable=True)
q = ch.queue_declare('pika.eu', durable=True).method.queue
ch.queue_bind(q, 'pika.orders', routing_key='orders.eu.*')
ch.confirm_delivery()
for i in range(3):
    ch.basic_publish('pika.orders', 'orders.eu.%d' % i, ('order-%d' % i).encode(), pika.BasicProperties(delivery_mode=2, content_type='text/plain', headers={'n': i}), mandatory=True)
unroutable = False
try:
    ch.basic_publish('pika.orders', 'orders.us.1', b'nowhere', mandatory=True)
except pika.exceptions.UnroutableError:
    unroutable = True
report['unroutable_returned'] = unroutable

received = []
for method, props, body in ch.consume(q, inactivity_timeout=5):
    if method is None:
        break
    received.append({'body': body.decode(), 'key': method.routing_key, 'n': props.headers.get('n'), 'redelivered': method.redelivered})
    ch.basic_ack(method.delivery_tag)
    if len(received) == 3:
        break
ch.cancel()
report['received'] = received

# nack with requeue: the message comes back, redelivered
ch.basic_publish('', q, b'again')
method, props, body = ch.basic_get(q)
ch.basic_nack(method.delivery_tag, requeue=True)
method, props, body = ch.basic_get(q)
report['requeued'] = {'body': body.decode(), 'redelivered': method.redelivered, 'count': (props.headers or {}).get('x-delivery-count')}
ch.basic_ack(method.delivery_tag)
report['get_empty'] = ch.basic_get(q)[0] is None

# headers exchange
ch.exchange_declare('pika.headers', exchange_type='headers')
hq = ch.queue_declare('', exclusive=True).method.queue
ch.queue_bind(hq, 'pika.headers', arguments={'x-match': 'any', 'color': 'red', 'size': 'L'})
ch.basic_publish('pika.headers', '', b'match', pika.BasicProperties(headers={'size': 'L'}))
ch.basic_publish('pika.headers', '', b'no-match', pika.BasicProperties(headers={'size': 'S'}))
got = []
while True:
    m = ch.basic_get(hq, auto_ack=True)
    if m[0] is None:
        break
    got.append(m[2].decode())
report['headers'] = got

# transactions on a channel of their own
tx = conn.channel()
tq = tx.queue_declare('pika.tx').method.queue
tx.tx_select()
tx.basic_publish('', tq, b'rolled-back')
tx.tx_rollback()
tx.basic_publish('', tq, b'committed')
report['before_commit'] = tx.queue_declare(tq, passive=True).method.message_count
tx.tx_commit()
report['after_commit'] = tx.queue_declare(tq, passive=True).method.message_count
m = tx.basic_get(tq, auto_ack=True)
report['tx_body'] = m[2].decode()

# direct reply-to: the requester consumes amq.rabbitmq.reply-to, a server on another connection replies
rpc = conn.channel()
rpc.queue_declare('amq.rabbitmq.reply-to', passive=True)
replies = []
rpc.basic_consume('amq.rabbitmq.reply-to', lambda c, m, p, b: replies.append({'body': b.decode(), 'correlation_id': p.correlation_id}), auto_ack=True)
rpc.queue_declare('pika.rpc')
rpc.basic_publish('', 'pika.rpc', b'ping', pika.BasicProperties(reply_to='amq.rabbitmq.reply-to', correlation_id='pika-1'))
server = pika.BlockingConnection(params)
sch = server.channel()
for method, props, body in sch.consume('pika.rpc', auto_ack=True, inactivity_timeout=5):
    break
report['rpc_reply_to_is_key'] = props.reply_to.startswith('amq.rabbitmq.reply-to.')
sch.basic_publish('', props.reply_to, body.upper(), pika.BasicProperties(correlation_id=props.correlation_id))
server.close()
for _ in range(50):
    if replies:
        break
    # the reply consumer's callback runs only while the connection processes its events
    conn.process_data_events(time_limit=0.1)
report['rpc_replies'] = replies

conn.close()
print(json.dumps(report))
