"""The Standard Webhooks reference implementation (PyPI `standardwebhooks`), for handoff's
interop tests (crates/handoff/tests/it/standard_webhooks.rs): it signs what handoff must accept
and verifies what handoff sends, so neither side is checked by handoff's own code.

    interop.py sign SECRET MSG_ID TIMESTAMP BODY_FILE   prints the webhook-signature value
    interop.py verify SECRET REQUEST_FILE               prints "valid", or the error and exits 1

REQUEST_FILE is a captured request: `Name: value` header lines, a blank line, the raw body.
"""

import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def parse(path):
    raw = open(path, "rb").read()
    head, _, body = raw.partition(b"\n\n")
    headers = {}
    for line in head.decode().splitlines():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body


def main(argv):
    if argv[1] == "sign":
        secret, msg_id, timestamp, body_file = argv[2:6]
        body = open(body_file, "rb").read().decode()
        at = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
        print(Webhook(secret).sign(msg_id, at, body))
        return 0
    if argv[1] == "verify":
        secret, request_file = argv[2:4]
        headers, body = parse(request_file)
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError as error:
            print(f"invalid: {error}")
            return 1
        print("valid")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
