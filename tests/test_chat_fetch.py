"""Remote image URLs in chat completions: refused unless their host is in OCR_FETCH_ALLOW_HOSTS, then fetched within
a size limit, without following redirects. The remote is a real HTTP server on loopback."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.apps import make_app
from tests.pages import character_error_rate, png_bytes, prose_page

PAGE = prose_page("en")


class ImageHost(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/page.png":
            body = png_bytes(PAGE.image)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/elsewhere":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def image_host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def ask(client, url):
    return client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "Free OCR."}]}]})


def test_an_allowed_host_is_fetched_and_read(tmp_path, embedded_engine, image_host):
    client = make_app(tmp_path, embedded_engine, FETCH_ALLOW_HOSTS="127.0.0.1").test_client()
    answer = ask(client, f"{image_host}/page.png")
    assert answer.status_code == 200, answer.get_json()
    assert character_error_rate(PAGE.text, answer.get_json()["choices"][0]["message"]["content"]) < 0.02


def test_other_hosts_redirects_and_large_images_are_refused(tmp_path, embedded_engine, image_host):
    refused = ask(make_app(tmp_path / "closed", embedded_engine).test_client(), f"{image_host}/page.png")
    assert refused.status_code == 400 and "does not fetch images from 127.0.0.1" in refused.get_json()["error"]["message"]
    client = make_app(tmp_path / "open", embedded_engine, FETCH_ALLOW_HOSTS="127.0.0.1", FETCH_MAX_MB=0.01).test_client()
    too_large = ask(client, f"{image_host}/page.png")
    assert too_large.status_code == 400 and "OCR_FETCH_MAX_MB" in too_large.get_json()["error"]["message"]
    redirected = ask(client, f"{image_host}/elsewhere")
    assert redirected.status_code == 400 and "302" in redirected.get_json()["error"]["message"]
