"""Logs in to Ferry with Qpid Proton's Python binding (Debian's python3-qpid-proton) over AMQP
SASL and prints what happened as one JSON object.

Usage: /usr/bin/python3 amqp_proton_sasl.py PORT MECHANISMS USER PASSWORD
MECHANISMS is proton's allowed_mechs (space separated). `extended` says whether this proton
reaches Cyrus SASL (and so its SCRAM plugin); without it proton knows only ANONYMOUS, PLAIN and
EXTERNAL.
"""
import json
import sys

from proton import SASL
from proton.utils import BlockingConnection

PORT, MECHS, USER, PASSWORD = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
report = {'extended': SASL.extended()}
try:
    # PLAIN over plain TCP must be allowed explicitly; the test broker has no TLS listener
    conn = BlockingConnection(f'amqp://127.0.0.1:{PORT}', timeout=5.0, user=USER, password=PASSWORD,
                              allowed_mechs=MECHS, allow_insecure_mechs=True)
    sender = conn.create_sender('interop.proton.sasl')
    report['connected'] = True
    conn.close()
except Exception as e:  # the refusal is what the test looks at
    report['connected'] = False
    report['error'] = f'{type(e).__name__}: {e}'
print(json.dumps(report))
