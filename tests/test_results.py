"""Result files: unguessable names, exact contents, nothing served from outside the results folder."""
from __future__ import annotations

import io
import os
import re

import pytest

from tests.pages import png_bytes, prose_page, receipt_page


def ocr(client, page, **fields):
    return client.post("/ocr", data={"image": (io.BytesIO(png_bytes(page.image)), "p.png"), **fields}).get_json()


def test_saved_file_holds_exactly_the_returned_text_as_utf8(app, client):
    body = ocr(client, prose_page("zh"))
    assert re.match(r"^ocr_result_\d{8}_\d{6}_[0-9a-f]{16}\.txt$", body["output_file"])
    response = client.get(f"/results/{body['output_file']}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.get_data().decode("utf-8") == body["text"]
    assert "光学字符识别" in response.get_data(as_text=True)
    folder = app.extensions["results"].folder
    assert [name for name in os.listdir(folder) if name.startswith(".partial")] == []


def test_markdown_results_are_served_as_markdown(client):
    body = ocr(client, prose_page("en"), prompt="<image>\nConvert document to markdown")
    response = client.get(f"/results/{body['output_file']}")
    assert response.headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert response.get_data(as_text=True) == body["text"]


def test_two_requests_in_the_same_second_never_share_a_file(client):
    names = {ocr(client, receipt_page())["output_file"] for _ in range(3)}
    assert len(names) == 3


def test_missing_result_is_404_in_the_contract_shape(client):
    response = client.get("/results/ocr_result_20250127_143022_0000000000000000.txt")
    assert response.status_code == 404
    assert response.get_json()["detail"]["error"] == "Not found / 资源未找到"


@pytest.mark.parametrize("path", [
    "../setup.py", "..%2fsetup.py", "%2e%2e/setup.py", "%2e%2e%2fsetup.py", "....//setup.py",
    "/etc/passwd", "%2fetc%2fpasswd", "..\\setup.py", "ocr_result_x.txt%00.txt", "ocr_result_x/../../setup.py",
])
def test_traversal_attempts_are_404(client, path):
    response = client.get(f"/results/{path}")
    assert response.status_code == 404
    assert b"setuptools" not in response.data and b"root:" not in response.data


def test_symlink_planted_in_the_results_folder_is_not_followed(app, client):
    folder = app.extensions["results"].folder
    folder.mkdir(parents=True, exist_ok=True)
    name = "ocr_result_20250127_143022_0123456789abcdef.txt"
    os.symlink("/etc/passwd", folder / name)
    assert client.get(f"/results/{name}").status_code == 404


def test_hard_link_planted_in_the_results_folder_is_not_served(app, client, tmp_path):
    folder = app.extensions["results"].folder
    folder.mkdir(parents=True, exist_ok=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not a result")
    name = "ocr_result_20250127_143022_0123456789abcdef.txt"
    os.link(secret, folder / name)
    assert client.get(f"/results/{name}").status_code == 404


def test_retention_removes_old_results_then_the_oldest_beyond_the_count(tmp_path):
    import os
    import time as clock

    from deepseek_ocr_api.results import ResultStore

    store = ResultStore(tmp_path)
    names = [store.save(f"result {index}") for index in range(5)]
    now = clock.time()
    for age, name in zip((7200, 3000, 2000, 1000, 10), names):
        os.utime(tmp_path / name, (now - age, now - age))
    (tmp_path / "notes.txt").write_text("not a result")
    assert store.prune(max_age=3600) == 1  # the two-hour-old one
    assert store.prune(max_files=2) == 2  # then the oldest two of the four left
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([names[3], names[4], "notes.txt"])


def test_retention_runs_in_the_background(tmp_path, embedded_engine):
    import time as clock

    from tests.apps import make_app

    app = make_app(tmp_path, embedded_engine, RESULTS_MAX_FILES=1, RESULTS_SWEEP_SECONDS=0.05)
    store = app.extensions["results"]
    for index in range(3):
        store.save(f"result {index}")
        clock.sleep(0.01)
    deadline = clock.monotonic() + 5
    while len(list(store.folder.iterdir())) > 1:
        assert clock.monotonic() < deadline, list(store.folder.iterdir())
        clock.sleep(0.05)
    app.extensions["janitor"].stop()
