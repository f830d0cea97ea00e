"""Endpoint addresses an SSRF would try: loopback spelled as a number (decimal, hex, octal, short
form) is refused like 127.0.0.1 behind a name, and a listed endpoint that answers with a redirect
cannot send the server (and its key) elsewhere: redirects are not followed."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import storage
from annotate.errors import ConfigError
from annotate.judges import run_judge
from annotate.judges.endpoints import check_addresses, get_endpoint
from storage import judgments as judgment_store
from test_judges_endpoints import SECRET, Capture, allow, endpoint_judge, pairs  # noqa: F401


class Redirect:
    """An endpoint that answers every POST with `status` and a Location pointing at `target`."""

    def __init__(self, status: int, target: str) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.hits += 1
                self.send_response(status)
                self.send_header("Location", target + "/chat/completions")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_from_a_listed_endpoint_is_not_followed_and_the_key_stays_home(db, pairs, tmp_path,  # noqa: F811
                                                                                  monkeypatch, status):
    elsewhere = Capture(status=200, reply="[[A]]")
    listed = Redirect(status, elsewhere.url)
    try:
        monkeypatch.setenv("VLLM_API_KEY", SECRET)
        allow(tmp_path, monkeypatch, {"name": "listed", "base_url": listed.url, "api_key_env": "VLLM_API_KEY"})
        run_judge(db, "pairs", endpoint_judge("listed"), limit=1)
    finally:
        listed.close()
        elsewhere.close()
    assert listed.hits >= 1 and elsewhere.headers == []
    stored = judgment_store.judgments_frame(storage.cursor(db), pairs.id)
    assert not stored["is_parsed"].any()
    assert stored["raw_output"].str.contains(f"HTTP {status}").all()


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "017700000001", "127.1", "0"])
def test_loopback_spelled_as_a_number_is_resolved_and_refused(tmp_path, monkeypatch, host):
    """Not an IP literal to Python, but the resolver (and so httpx) reads it as 127.0.0.1 / 0.0.0.0."""
    allow(tmp_path, monkeypatch, {"name": "sneaky", "base_url": f"http://{host}:8000/v1"})
    with pytest.raises(ConfigError, match="internal address"):
        check_addresses(get_endpoint("sneaky"))
