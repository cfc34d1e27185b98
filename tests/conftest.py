"""Fixtures: the app with the real embedded engine, a test client, a real gunicorn server. The helpers they use
live in apps.py, pages.py and servers.py."""
from __future__ import annotations

import os

import pytest

from deepseek_ocr_api.engines.embedded import EmbeddedEngine
from tests.apps import make_app
from tests.pages import png_bytes, prose_page
from tests.servers import start_gunicorn

# No test may reach the Hugging Face hub: every checkpoint is built on disk by the tests themselves.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session")
def embedded_engine():
    """The default engine, loaded once for the whole session (it is read-only once loaded)."""
    engine = EmbeddedEngine()
    engine.load()
    return engine


@pytest.fixture
def app(tmp_path, embedded_engine):
    return make_app(tmp_path, embedded_engine)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real gunicorn with the default (embedded) engine."""
    yield from start_gunicorn(tmp_path_factory, "server")


@pytest.fixture
def document_png(tmp_path):
    page = prose_page("en")
    (tmp_path / "document.png").write_bytes(png_bytes(page.image))
    return page
