"""A stomp.py client that sends heart-beats every 50 ms and asks for none, for a broker that stalls.

Usage: /usr/bin/python3 stomp_py_beating.py PORT
Prints `connected` once CONNECTED came, then waits for a line on standard input, sends one message
with a receipt and prints one line: `receipt`, `error MESSAGE` or `disconnected`.
"""
import sys
import threading

import stomp

PORT = int(sys.argv[1])


class Outcome(stomp.ConnectionListener):
    def __init__(self):
        self.lines = []
        self.done = threading.Event()

    def settle(self, line):
        if not self.done.is_set():
            self.lines.append(line)
            self.done.set()

    def on_receipt(self, frame):
        self.settle('receipt')

    def on_error(self, frame):
        self.settle('error ' + frame.headers.get('message', frame.body))

    def on_disconnected(self):
        self.settle('disconnected')


outcome = Outcome()
conn = stomp.Connection12([('127.0.0.1', PORT)], heartbeats=(50, 0))
conn.set_listener('outcome', outcome)
conn.connect('guest', 'guest', wait=True)
print('connected', flush=True)
sys.stdin.readline()
try:
    conn.send('/queue/stall.after', 'after the stall', receipt='after')
except Exception as err:  # the broker closed the connection first
    outcome.settle('disconnected')
outcome.done.wait(10)
print(outcome.lines[0] if outcome.lines else 'nothing within 10 s', flush=True)
try:
    conn.disconnect()
except Exception:
    pass
