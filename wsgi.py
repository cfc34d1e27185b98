"""WSGI entry point for gunicorn: `gunicorn --config gunicorn.conf.py wsgi:app`."""
from deepseek_ocr_api import create_app

app = create_app()
