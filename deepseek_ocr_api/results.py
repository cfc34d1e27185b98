"""Saved OCR results: unguessable names, atomic writes, and lookups that never leave the results folder."""
from __future__ import annotations

import os
import re
import secrets
import tempfile
from datetime import datetime
from pathlib import Path

from deepseek_ocr_api.errors import ResultNotFound

EXTENSIONS = {"text": "txt", "markdown": "md"}
MEDIA_TYPES = {"txt": "text/plain", "md": "text/markdown"}  # Flask adds "; charset=utf-8"
RESULT_NAME = re.compile(r"^ocr_result_\d{8}_\d{6}_[0-9a-f]{16}\.(txt|md)$")


class ResultStore:
    """A folder of result files named `ocr_result_YYYYMMDD_HHMMSS_<16 hex>.<ext>`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).resolve()

    def save(self, text: str, output_format: str = "text") -> str:
        """Write `text` and return the file name; the file appears whole or not at all."""
        self.folder.mkdir(parents=True, exist_ok=True)
        extension = EXTENSIONS[output_format]
        name = f"ocr_result_{datetime.now():%Y%m%d_%H%M%S}_{secrets.token_hex(8)}.{extension}"
        descriptor, temporary = tempfile.mkstemp(prefix=".partial-", dir=self.folder)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.folder / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return name

    def locate(self, filename: str) -> tuple[Path, str]:
        """The path and media type of a saved result; ResultNotFound for any other name."""
        missing = ResultNotFound(f"No result file named {filename!r}")
        if not RESULT_NAME.match(filename):
            raise missing
        path = self.folder / filename
        if path.is_symlink() or not path.is_file() or path.resolve().parent != self.folder:
            raise missing
        return path, MEDIA_TYPES[filename.rsplit(".", 1)[1]]
