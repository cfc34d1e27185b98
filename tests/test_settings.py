"""Settings: parsed and validated once at start; a typo fails the start with the variable, the value and what is
allowed, whichever engine is configured."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from deepseek_ocr_api import create_app
from deepseek_ocr_api.settings import Settings, SettingsError
from tests.apps import make_app
from tests.servers import ROOT


@pytest.mark.parametrize("variable, value, allowed", [
    ("OCR_ENGINE", "nonsense", "embedded, deepseek, auto"),
    ("OCR_DEVICE", "gpu", "auto, cpu, mps, cuda or cuda:N"),  # checked with the embedded engine configured too
    ("OCR_ATTN", "flash", "sdpa, eager, flash_attention_2"),
    ("OCR_MODE", "huge", "small, base, gundam, tiny, large"),
    ("OCR_DOCS_PUBLIC", "maybe", "Not a valid boolean"),
    ("OCR_PORT", "80a", "Not a valid integer"),
    ("OCR_QUEUE_DEPTH", "-1", "at least 0"),
    ("OCR_PDF_DPI", "5", "18 to 1200"),
    ("OCR_LOG_LEVEL", "loud", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("OCR_BATCH_SIZE", "100", "0 to 64"),
    ("OCR_OPENAI_BASE_URL", "127.0.0.1:8000", "http(s)://"),
    ("OCR_OPENAI_EXTRA_BODY", "{skip", "is not JSON"),
    ("OCR_OPENAI_EXTRA_BODY", "[1]", "must be a JSON object"),
])
def test_a_bad_value_fails_the_start_naming_variable_value_and_what_is_allowed(variable, value, allowed):
    with pytest.raises(SettingsError) as raised:
        Settings.load({variable: value})
    assert f"{variable}={value!r}" in str(raised.value) and allowed in str(raised.value)


def test_the_remote_engine_needs_the_model_servers_url():
    with pytest.raises(SettingsError, match="OCR_ENGINE=openai .* needs OCR_OPENAI_BASE_URL"):
        Settings.load({"OCR_ENGINE": "openai"})


def test_every_bad_value_is_named_at_once():
    with pytest.raises(SettingsError) as raised:
        Settings.load({"OCR_ENGINE": "deepsek", "OCR_MAX_PAGES": "0"})
    assert "OCR_ENGINE='deepsek'" in str(raised.value) and "OCR_MAX_PAGES='0'" in str(raised.value)


@pytest.mark.parametrize("word", ["no", "No", "False", "off", "OFF", "0", "false"])
def test_docs_public_takes_the_usual_words_for_false(word, tmp_path, embedded_engine):
    client = make_app(tmp_path, embedded_engine, API_KEY="secret", DOCS_PUBLIC=word).test_client()
    assert client.get("/apispec.json").status_code == 401
    assert client.get("/apispec.json", headers={"X-API-Key": "secret"}).status_code == 200


def test_typed_values_from_the_environment():
    settings = Settings.load({"OCR_API_KEY": " a, b ,", "OCR_ENGINE": "DeepSeek", "OCR_LOG_LEVEL": "debug",
                              "OCR_TRUST_REMOTE_CODE": "yes", "OCR_MAX_UPLOAD_MB": "1.5"})
    assert settings.api_key == ("a", "b") and settings.engine == "deepseek" and settings.log_level == "DEBUG"
    assert settings.trust_remote_code is True and settings.max_upload_bytes == int(1.5 * 2**20)


def test_create_app_refuses_bad_settings_before_loading_anything(tmp_path):
    with pytest.raises(SettingsError, match="OCR_ENGINE='nonsense'"):
        create_app({"RESULTS_DIR": str(tmp_path), "ENGINE": "nonsense"})


def test_a_misspelt_variable_is_named_in_the_log(caplog):
    Settings.load({"OCR_ENIGNE": "deepseek"})
    assert "OCR_ENIGNE is not a setting" in caplog.text and "did you mean OCR_ENGINE?" in caplog.text


def test_gunicorn_refuses_to_start_with_one_clear_line():
    env = {**os.environ, "OCR_DEVICE": "gpu0", "OCR_PORT": "0"}
    result = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "deepseek-ocr-api cannot start: Invalid settings: OCR_DEVICE='gpu0'" in result.stderr
    assert "Traceback" not in result.stderr
