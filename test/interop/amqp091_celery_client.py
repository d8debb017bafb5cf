"""Celery (py-amqp through kombu) against Ferry's AMQP 0-9-1, reported as one JSON line.

Run as `amqp091_celery_client.py PORT`: starts a worker of this module in a child process, sends it
ETA tasks and then an ordinary one, and reports what the worker did. The worker imports this module
as its app (`-A amqp091_celery_client`), so everything but the app waits under `__main__`.
"""
import json
import os
import subprocess
import sys

from celery import Celery

app = Celery('amqp091_celery_client', broker=os.environ.get('CELERY_TEST_BROKER', 'amqp://'), backend='rpc://')
app.conf.task_default_queue = 'celery-eta'
app.conf.task_acks_late = True
app.conf.worker_prefetch_multiplier = 1
app.conf.broker_connection_retry_on_startup = False


@app.task
def add(x, y):
    return x + y


def main():
    port = int(sys.argv[1])
    os.environ['CELERY_TEST_BROKER'] = 'amqp://guest:guest@127.0.0.1:%d//' % port
    app.conf.broker_url = os.environ['CELERY_TEST_BROKER']
    here = os.path.dirname(os.path.abspath(__file__))
    worker = subprocess.Popen(
        [sys.executable, '-m', 'celery', '-A', 'amqp091_celery_client', 'worker', '-P', 'solo', '-c', '1',
         '-n', 'ferry-test@%h', '--without-mingle', '--without-gossip', '-l', 'warning'],
        cwd=here, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=sys.stderr)
    report = {}
    try:
        # Celery holds an ETA task unacknowledged until it is due, raising basic.qos by one for each
        # so that its prefetch still lets other tasks in; these are due long after the test ends
        etas = [add.apply_async((i, 0), countdown=3600) for i in range(5)]
        # generous: a worker starting on a busy machine takes a while to take its first task
        report['now'] = add.delay(2, 3).get(timeout=90)
        # the one worker's answer, however slow it is to give it
        scheduled = app.control.inspect(timeout=30, limit=1).scheduled() or {}
        report['scheduled'] = [len(tasks) for name, tasks in scheduled.items() if name.startswith('ferry-test@')]
        for r in etas:
            r.revoke()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    print(json.dumps(report))


if __name__ == '__main__':
    main()
