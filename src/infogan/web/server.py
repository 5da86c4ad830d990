"""``infogan explore``: a small HTTP server on 127.0.0.1 serving the latent explorer page and its API.

Standard library only (``http.server.ThreadingHTTPServer``). Inference only: nothing is written to disk.

Endpoints (all answer 4xx with ``{"error": message}`` on a bad request):

- ``GET /``, ``GET /static/{app.js,style.css}``: the page.
- ``GET /api/model``: the latent layout (:meth:`Explorer.describe`).
- ``GET /api/generate?seed=S&c1=3&c2=0.5...``: PNG of G(z(S), c); codes left out take their default.
- ``GET /api/traversal?code=c2&steps=9&seed=S&c1=...[&order=label]``: PNG strip sweeping one code, the rest
  fixed (``order=label``: a categorical code's categories ordered by the class each was matched to).
- ``POST /api/encode`` with an image file as the body: Q's posterior as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import webbrowser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import torch

from infogan.errors import ConfigError
from infogan.latent.spec import MAX_SPAN
from infogan.models import InfoGAN
from infogan.web.explorer import MAX_UPLOAD_BYTES, Explorer, RequestError

HOST = "127.0.0.1"  # never another interface: the explorer has no authentication
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8")}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
                               "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


class ExplorerServer(ThreadingHTTPServer):
    """The HTTP server bound to 127.0.0.1; ``explorer`` does the work, ``url`` is where the page is.

    Args:
        explorer: the inference side.
        port: TCP port; 0 picks a free one.
        verbose: log every request to stderr.
    """

    daemon_threads = True  # request threads never keep the process alive after shutdown

    def __init__(self, explorer: Explorer, *, port: int = 0, verbose: bool = False) -> None:
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"--port must be in 0..65535 (0 picks a free port), got {port!r}")
        self.explorer = explorer
        self.verbose = verbose
        self.static = {path: (resources.files("infogan.web").joinpath("static", name).read_bytes(), ctype)
                        for path, (name, ctype) in STATIC.items()}
        try:
            super().__init__((HOST, port), Handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {HOST}:{port} ({exc.strerror}); choose another --port, or 0 for "
                              "a free one") from None

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> threading.Thread:
        """Serve in a background thread (for tests and notebooks); stop with ``shutdown()``."""
        thread = threading.Thread(target=self.serve_forever, name="infogan-explorer", daemon=True)
        thread.start()
        return thread


class Handler(BaseHTTPRequestHandler):
    """Routes requests to the :class:`Explorer`; every refusal is a 4xx with a JSON message."""

    server: ExplorerServer
    protocol_version = "HTTP/1.1"  # keep-alive: the page sends a request per slider move
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle + delayed ACK add ~40 ms
    server_version = "infogan-explorer"
    timeout = 60  # seconds a connection may sit idle or trickle a body before its thread gives it up

    def do_GET(self) -> None:  # http.server dispatches on these method names
        self._dispatch(self._get)

    def do_POST(self) -> None:
        self._dispatch(self._post)

    def _refuse_method(self) -> None:
        self._dispatch(self._not_allowed)

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _refuse_method

    def _not_allowed(self) -> None:
        raise RequestError(405, f"method {self.command} is not allowed; the explorer answers GET and POST")

    def _dispatch(self, route) -> None:
        try:
            self._check_host()
            route()
        except (RequestError, ConfigError) as exc:  # ConfigError: the library's own validation
            if self.command != "GET":
                self.close_connection = True  # a request body may be left unread: do not reuse the connection
            self._send_json({"error": str(exc)}, getattr(exc, "status", HTTPStatus.BAD_REQUEST))

    def _check_host(self) -> None:
        # DNS rebinding: a page elsewhere must not reach this server through a name that resolves to 127.0.0.1
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in (HOST, "localhost"):
            raise RequestError(403, f"Host {host!r} refused: open the explorer at {self.server.url}")

    def _get(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        explorer = self.server.explorer
        if parts.path in self.server.static:
            if query:
                raise RequestError(400, f"{parts.path} takes no parameters")
            body, ctype = self.server.static[parts.path]
            self._send(body, ctype)
        elif parts.path == "/api/model":
            self._send_json(explorer.describe())
        elif parts.path == "/api/generate":
            seed, values, _ = explorer.parse_query(query)
            self._send(explorer.image_png(seed, values), "image/png")
        elif parts.path == "/api/traversal":
            seed, values, extra = explorer.parse_query(query, extra=("code", "steps", "order"))
            index = explorer.code_index(extra.get("code"))
            self._send(explorer.traversal_png(seed, values, index, explorer.steps(extra.get("steps")),
                                              order=extra.get("order")), "image/png")
        elif parts.path == "/api/encode":
            raise RequestError(405, "use POST /api/encode with the image file as the request body")
        else:
            raise RequestError(404, f"no such page {parts.path!r}")

    def _post(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/api/encode":
            known = parts.path in self.server.static or parts.path in ("/api/model", "/api/generate",
                                                                        "/api/traversal")
            raise RequestError(405 if known else 404, f"POST is only accepted at /api/encode, not {parts.path!r}")
        if parts.query:
            raise RequestError(400, "/api/encode takes no parameters; send the image file as the body")
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(411, "send the upload with a Content-Length, not chunked")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError(411, "POST /api/encode needs a Content-Length header")
        if int(length) > MAX_UPLOAD_BYTES:
            self.close_connection = True  # the body is not read, so the connection cannot be reused
            raise RequestError(413, f"upload of {length} bytes exceeds the limit of {MAX_UPLOAD_BYTES} bytes")
        data = self.rfile.read(int(length))
        self._send_json(self.server.explorer.posterior(data))

    # ----- responses -----------------------------------------------------------------------------------
    def _send(self, body: bytes, ctype: str, status: int = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, data: dict, status: int = HTTPStatus.OK) -> None:
        self._send(json.dumps(data).encode(), "application/json", status)

    def log_message(self, format: str, *args) -> None:  # http.server's signature
        if self.server.verbose:
            super().log_message(format, *args)


def serve(model: InfoGAN, *, port: int = 0, open_browser: bool = True, span: float = 2.0,
          threads: int | None = None, verbose: bool = False, echo=print, run_dir=None) -> None:
    """Run the explorer until interrupted.

    Args:
        model: the networks.
        port: TCP port on 127.0.0.1 (0: a free one).
        open_browser: open the page with :func:`webbrowser.open`.
        span: continuous sliders cover [-span, span].
        threads: torch CPU threads for this process (None: torch's default, one per core).
        verbose: log requests.
        echo: where the URL is printed.
        run_dir: the run folder (its code_acc result names the categories on the page).
    """
    if not (isinstance(span, (int, float)) and 0 < span <= MAX_SPAN):
        raise ConfigError(f"--span must be in (0, {MAX_SPAN:g}], got {span!r}")
    if threads is not None:
        if not (isinstance(threads, int) and threads >= 1):
            raise ConfigError(f"--threads must be an integer >= 1, got {threads!r}")
        torch.set_num_threads(threads)  # process-wide: leaves cores to other work on a shared machine
    server = ExplorerServer(Explorer(model, span=span, run_dir=run_dir), port=port, verbose=verbose)
    echo(f"latent explorer at {server.url} (Ctrl-C stops it)")
    sys.stdout.flush()  # the URL must reach a pipe or log now, not when the server stops
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        server.server_close()


# ----- command line -------------------------------------------------------------------------------------
