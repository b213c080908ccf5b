"""Serve a built site on 127.0.0.1 the way GitHub Pages does: gzip for text.

Used by .ci/lighthouse. GitHub Pages, where the site is published, sends HTML,
CSS, JavaScript, JSON, SVG and XML gzip-compressed to browsers that accept it;
Python's http.server sends every file as it is. ``--plain`` serves without
compression (http.server's behaviour).

    python .ci/lighthouse-server.py DIR PORT [--plain]
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

COMPRESSED = {".html", ".css", ".js", ".json", ".svg", ".xml", ".txt", ".map", ".py", ".ipynb"}


class Handler(SimpleHTTPRequestHandler):
    plain = False

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by http.server
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        if (self.plain or not accepts or not os.path.isfile(path)
                or os.path.splitext(path)[1] not in COMPRESSED
                or not self.path.split("?", 1)[0].endswith(("/", os.path.basename(path)))):
            return super().send_head()
        with open(path, "rb") as f:
            body = gzip.compress(f.read(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        self.end_headers()
        return io.BytesIO(body)


def main() -> None:
    directory, port, *flags = sys.argv[1:]
    Handler.plain = "--plain" in flags
    handler = functools.partial(Handler, directory=directory)
    ThreadingHTTPServer(("127.0.0.1", int(port)), handler).serve_forever()


if __name__ == "__main__":
    main()
