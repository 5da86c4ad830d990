"""The explorer's HTTP API on 127.0.0.1: every endpoint with good and bad parameters, the CLI command."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket

import pytest
import torch
from PIL import Image

from infogan import snapshot
from infogan.cli import main
from infogan.data.imagefolder import decode_image
from infogan.inference.generate import encode
from infogan.web import server as web_server
from infogan.web.explorer import MAX_UPLOAD_BYTES, Explorer, RequestError
from infogan.web.server import ExplorerServer

TIMEOUT = 60  # seconds per request: bounded even on a loaded 2-core machine


@pytest.fixture(scope="module")
def served(tiny_trained_run, tmp_path_factory):
    """A running explorer on a free port; the working folder is an empty temp folder checked afterwards."""
    cwd, work = os.getcwd(), tmp_path_factory.mktemp("explorer-cwd")
    os.chdir(work)
    before = sorted(p.name for p in tiny_trained_run.iterdir())
    server = ExplorerServer(Explorer(snapshot.load(tiny_trained_run)), port=0)
    server.start()
    try:
        yield server, tiny_trained_run
    finally:
        server.shutdown()
        server.server_close()
        os.chdir(cwd)
    assert list(work.iterdir()) == [], "the explorer wrote into the working folder"
    assert sorted(p.name for p in tiny_trained_run.iterdir()) == before, "the explorer wrote into the run"


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.getheader("Content-Type"), res.read()
    finally:
        conn.close()


def png_bytes(array, mode=None, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format=fmt)
    return buf.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return img.size


def test_binds_to_loopback_only_and_serves_the_page(served):
    server, _ = served
    assert server.server_address[0] == "127.0.0.1"
    for path, ctype in [("/", "text/html"), ("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")]:
        status, got, body = request(server, "GET", path)
        assert status == 200 and got.startswith(ctype) and len(body) > 100
    assert b"/static/app.js" in request(server, "GET", "/")[2]


def test_model_description(served):
    server, _ = served
    status, ctype, body = request(server, "GET", "/api/model")
    info = json.loads(body)
    assert status == 200 and ctype == "application/json"
    assert [c["name"] for c in info["codes"]] == ["c1", "c2", "c3"]
    assert info["codes"][0] == {"name": "c1", "kind": "categorical", "k": 10, "default": 0, "labels": None,
                                "order": list(range(10)), "recovered": None}
    assert info["codes"][1]["min"] == -2 and info["codes"][1]["max"] == 2 and info["codes"][1]["marked"] == [-1, 1]
    assert info["image_shape"] == [1, 28, 28] and info["step"] == 4


def test_generate_is_deterministic_and_follows_every_parameter(served):
    server, _ = served
    base = "/api/generate?seed=5&c1=3&c2=0.5&c3=-1"
    status, ctype, first = request(server, "GET", base)
    assert status == 200 and ctype == "image/png" and png_size(first) == (28, 28)
    assert request(server, "GET", base)[2] == first
    for changed in ["seed=6&c1=3&c2=0.5&c3=-1", "seed=5&c1=4&c2=0.5&c3=-1", "seed=5&c1=3&c2=1.5&c3=-1",
                    "seed=5&c1=3&c2=0.5&c3=2"]:
        assert request(server, "GET", f"/api/generate?{changed}")[2] != first, changed
    # codes left out take their defaults (category 0, value 0)
    assert request(server, "GET", "/api/generate?seed=5")[2] == request(server, "GET", "/api/generate?seed=5&c1=0&c2=0&c3=0")[2]


@pytest.mark.parametrize("query, message", [
    ("seed=-1", "seed must be an integer"),
    ("seed=2147483648", "seed must be an integer"),
    ("seed=1.5", "seed must be an integer"),
    ("c1=10", "c1 must be an integer in 0..9"),
    ("c1=-1", "c1 must be an integer"),
    ("c1=two", "c1 must be an integer"),
    ("c2=2.01", "c2 must be a number in [-2, 2]"),
    ("c2=nan", "c2 must be a number"),
    ("c3=inf", "c3 must be a number"),
    ("c3=", "c3 must be a number"),
    ("c4=0", "unknown parameter(s) c4"),
    ("c1=1&c1=2", "c1 given more than once"),
])
def test_generate_rejects_bad_parameters(served, query, message):
    status, ctype, body = request(served[0], "GET", f"/api/generate?{query}")
    assert status == 400 and ctype == "application/json"
    assert message in json.loads(body)["error"]


def test_traversal_strips(served):
    server, _ = served
    status, ctype, cat = request(server, "GET", "/api/traversal?code=c1&seed=2&c2=0.3")
    assert status == 200 and ctype == "image/png" and png_size(cat) == (10 * 29 + 1, 30)  # K cells, 1 px padding
    status, _, cont = request(server, "GET", "/api/traversal?code=c3&steps=5&seed=2&c1=7")
    assert status == 200 and png_size(cont) == (5 * 29 + 1, 30)
    assert png_size(request(server, "GET", "/api/traversal?code=c2")[2]) == (9 * 29 + 1, 30)  # default steps


@pytest.mark.parametrize("query, message", [
    ("", "code must name one of c1, c2, c3"),
    ("code=c9", "code must name one of"),
    ("code=c2&steps=1", "steps must be an integer in 2..24"),
    ("code=c2&steps=25", "steps must be an integer"),
    ("code=c2&steps=x", "steps must be an integer"),
    ("code=c2&c2=3", "c2 must be a number in [-2, 2]"),
    ("code=c2&zoom=2", "unknown parameter(s) zoom"),
])
def test_traversal_rejects_bad_parameters(served, query, message):
    status, _, body = request(served[0], "GET", f"/api/traversal?{query}")
    assert status == 400 and message in json.loads(body)["error"]


def test_encode_matches_the_library_and_accepts_any_size_and_format(served, tmp_path):
    server, run = served
    g = torch.Generator().manual_seed(1)
    digit = torch.randint(0, 256, (28, 28), dtype=torch.uint8, generator=g).numpy()
    status, ctype, body = request(server, "POST", "/api/encode", png_bytes(digit), {"Content-Type": "image/png"})
    post = json.loads(body)
    assert status == 200 and ctype == "application/json"
    c1, c2, c3 = post["codes"]
    assert c1["name"] == "c1" and len(c1["probs"]) == 10 and abs(sum(c1["probs"]) - 1) < 1e-4
    assert c1["category"] == max(range(10), key=c1["probs"].__getitem__)
    assert c2["std"] > 0 and post["input"].startswith("data:image/png;base64,")
    expected = encode(snapshot.load(run), torch.from_numpy(digit)[None, None])
    assert torch.allclose(torch.tensor(c1["probs"]), expected["probs"][0][0], atol=1e-5)
    assert c3["mean"] == pytest.approx(float(expected["means"][1][0]), abs=1e-5)
    # a 60x45 RGB JPEG is converted to greyscale and resized exactly as `infogan encode` does it
    rgb = torch.randint(0, 256, (45, 60, 3), dtype=torch.uint8, generator=g).numpy()
    jpeg = png_bytes(rgb, fmt="JPEG")
    status, _, body = request(server, "POST", "/api/encode", jpeg, {"Content-Type": "image/jpeg"})
    assert status == 200 and json.loads(body)["size"] == [60, 45]
    (tmp_path / "x.jpg").write_bytes(jpeg)
    pixels = torch.from_numpy(decode_image(tmp_path / "x.jpg", size=28, channels=1, crop=None).copy()).permute(2, 0, 1)
    expected = encode(snapshot.load(run), pixels[None])
    assert json.loads(body)["codes"][1]["mean"] == pytest.approx(float(expected["means"][0][0]), abs=1e-5)


def _too_many_pixels() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (5000, 5000)).save(buf, format="PNG")  # a few kB on disk, 25 megapixels decoded
    return buf.getvalue()


@pytest.mark.parametrize("make, status, message", [
    (lambda: b"", 400, "empty upload"),
    (lambda: b"this is not an image", 415, "not an image file"),
    (lambda: png_bytes(torch.zeros(8, 8, dtype=torch.uint8).numpy(), fmt="TIFF"), 415, "format TIFF is not accepted"),
    (lambda: png_bytes(torch.randint(0, 256, (28, 28), dtype=torch.uint8).numpy())[:400], 400, "truncated or corrupt"),
    (_too_many_pixels, 413, "exceeds 16777216 pixels"),
])
def test_encode_rejects_bad_uploads(served, make, status, message):
    got, _, body = request(served[0], "POST", "/api/encode", make(), {"Content-Type": "application/octet-stream"})
    assert got == status and message in json.loads(body)["error"]


def test_encode_refuses_oversized_and_unsized_bodies(served):
    server, _ = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(f"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {MAX_UPLOAD_BYTES + 1}\r\n"
                     "\r\n".encode())  # the body is never sent: the server must answer from the header alone
        reply = sock.makefile("rb").read(200)
    assert reply.startswith(b"HTTP/1.1 413")
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"POST /api/encode HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        assert sock.makefile("rb").read(20).startswith(b"HTTP/1.1 411")
    status, _, body = request(server, "POST", "/api/encode?x=1", b"abc")
    assert status == 400 and "takes no parameters" in json.loads(body)["error"]


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/nope", 404), ("GET", "/static/../../etc/passwd", 404), ("GET", "/static/index.html", 404),
    ("GET", "/?x=1", 400), ("GET", "/api/encode", 405), ("POST", "/api/generate", 405), ("POST", "/nope", 404),
    ("DELETE", "/api/model", 405), ("PUT", "/api/encode", 405), ("HEAD", "/", 405),
])
def test_unknown_paths_and_methods(served, method, path, status):
    got, _, body = request(served[0], method, path, body=b"" if method in ("POST", "PUT") else None)
    assert got == status
    if method != "HEAD":
        assert json.loads(body)["error"]


def test_foreign_host_header_is_refused(served):
    server, _ = served
    status, _, body = request(server, "GET", "/api/model", headers={"Host": f"attacker.example:{server.port}"})
    assert status == 403 and "refused" in json.loads(body)["error"]
    assert request(server, "GET", "/api/model", headers={"Host": f"localhost:{server.port}"})[0] == 200


def test_explore_command_opens_the_browser_unless_told_not_to(tiny_trained_run, monkeypatch, capsys):
    opened, served_urls = [], []
    monkeypatch.setattr(web_server.webbrowser, "open", opened.append)
    monkeypatch.setattr(ExplorerServer, "serve_forever", lambda self: served_urls.append(self.url))
    assert main(["explore", str(tiny_trained_run)]) == 0
    assert opened == served_urls and opened[0].startswith("http://127.0.0.1:")
    assert f"latent explorer at {opened[0]}" in capsys.readouterr().out
    assert main(["explore", str(tiny_trained_run), "--no-browser"]) == 0
    assert len(opened) == 1 and len(served_urls) == 2


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "argument --port: must be an integer in 0..65,535"),
    (["--span", "0"], "argument --span: must be a finite number in (0, 10]"),
    (["--threads", "0"], "argument --threads: must be an integer in 1..1,024"),
])
def test_explore_command_errors(tiny_trained_run, capsys, args, message):
    assert main(["explore", str(tiny_trained_run), "--no-browser", *args]) == 2
    assert message in capsys.readouterr().err


def test_explore_command_reports_a_busy_port(tiny_trained_run, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["explore", str(tiny_trained_run), "--no-browser", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_categories_are_named_by_the_class_they_were_matched_to(tmp_path, tiny_trained_run):
    import shutil

    import infogan
    from infogan.web.explorer import run_results

    run = tmp_path / "run"
    shutil.copytree(tiny_trained_run, run)
    plain = Explorer(snapshot.load(run), run_dir=run).describe()["codes"][0]
    assert plain["labels"] is None and plain["order"] == list(range(plain["k"]))  # no code_acc result yet
    result = infogan.evaluate_run(run, ["code_acc", "info"])
    mapping = next(iter(result.values()))["mapping"]
    explorer = Explorer(snapshot.load(run), run_dir=run)
    c1 = explorer.describe()["codes"][0]
    assert c1["labels"] == [f"looks like {mapping[c]}" if mapping[c] >= 0 else "unmatched" for c in range(c1["k"])]
    classes = [mapping[c] for c in c1["order"]]
    matched = [x for x in classes if x >= 0]
    assert matched == sorted(matched) and sorted(c1["order"]) == list(range(c1["k"]))
    assert c1["recovered"] is not None and explorer.describe()["codes"][1]["recovered"] is not None
    values = [0, 0.0, 0.0]
    natural = explorer.traversal_png(1, values, 0, 9)
    by_label = explorer.traversal_png(1, values, 0, 9, order="label")
    assert by_label.startswith(b"\x89PNG") and (by_label != natural) == (c1["order"] != list(range(c1["k"])))
    with pytest.raises(RequestError, match="order must be natural or label"):
        explorer.traversal_png(1, values, 0, 9, order="sideways")
    (run / "metric-code_acc_fake_test.jsonl").write_text("{not json\n")
    assert run_results(run, None)[0] == {}  # an unreadable result: plain numbers, no error
