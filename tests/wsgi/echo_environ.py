"""A WSGI application for handoff's reverse-proxy tests, on Python's own `wsgiref` server.

It answers every request with the CGI variables it was given (every HTTP_* one, the method,
the path and the query) as JSON: what an application behind handoff would read. wsgiref folds
`_` into `-` in header names and joins repeated headers with `,`, as many WSGI and CGI servers
do. Started by the test: prints its port on the first line, then serves 127.0.0.1 until killed.
"""

import json
from wsgiref.simple_server import WSGIRequestHandler, make_server


def application(environ, start_response):
    request = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING")
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_") or k in request}
    body = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


if __name__ == "__main__":
    server = make_server("127.0.0.1", 0, application, handler_class=QuietHandler)
    print(server.server_port, flush=True)
    server.serve_forever()
