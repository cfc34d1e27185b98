"""What a prompt asks for: the guide's prompts mapped to named OCR tasks."""
from __future__ import annotations

import re
from dataclasses import dataclass

from deepseek_ocr_api.errors import InvalidInput

# Normalised prompt wording (see `_normalise`) -> task name.
KNOWN_PROMPTS = {
    "free ocr": "free_ocr",
    "ocr this image": "free_ocr",
    "convert document to markdown": "markdown",
    "convert the document to markdown": "markdown",
    "parse the figure": "figure",
    "describe this image in detail": "describe",
}
# The `task` field's presets: DeepSeek-OCR's own prompts. `locate` takes the text to find in `ref`.
TASK_PRESETS = {
    "free_ocr": "<image>\nFree OCR.",
    "markdown": "<image>\n<|grounding|>Convert the document to markdown.",
    "figure": "<image>\nParse the figure.",
    "describe": "<image>\nDescribe this image in detail.",
    "locate": "<image>\nLocate <|ref|>{ref}<|/ref|> in the image.",
}
DEFAULT_PROMPT = TASK_PRESETS["free_ocr"]
# The prompt each task is known by, for messages that tell a client what to send instead: the presets,
# with the guide's own markdown wording, which is what clients written for the guide send.
TASK_PROMPTS = {**TASK_PRESETS, "markdown": "<image>\nConvert document to markdown",
                "locate": TASK_PRESETS["locate"].format(ref="text")}
LOCATE = re.compile(r"^locate (<\|ref\|>.*<\|/ref\|>) in the image$", re.S)


@dataclass(frozen=True)
class Task:
    """A request's OCR task: its name, the prompt as the model should see it, and the `grounding` flag."""

    name: str
    prompt: str
    grounding: bool = False


def expand_escapes(prompt: str) -> str:
    r"""A literal backslash-n typed into a form (`-F "prompt=<image>\nFree OCR."`) means a newline."""
    return prompt.replace("\\r\\n", "\n").replace("\\n", "\n")


def _normalise(prompt: str) -> str:
    text = prompt.replace("<image>", " ").replace("<|grounding|>", " ")
    text = " ".join(text.split()).strip().rstrip(".").strip()
    return text.lower()


def parse_prompt(prompt: str | None) -> Task:
    """The task a prompt asks for; an unrecognised prompt becomes the `custom` task."""
    prompt = expand_escapes(prompt or "").strip() or DEFAULT_PROMPT
    if "<image>" not in prompt:
        prompt = "<image>\n" + prompt
    grounding = "<|grounding|>" in prompt
    wording = _normalise(prompt)
    if wording in KNOWN_PROMPTS:
        return Task(KNOWN_PROMPTS[wording], prompt, grounding)
    if LOCATE.match(wording):
        return Task("locate", prompt, grounding)
    return Task("custom", prompt, grounding)


def preset_task(name: str, ref: str | None = None) -> Task:
    """The task a `task` field names, with its preset prompt; `locate` needs the `ref` text to find."""
    if name == "locate":
        if not ref or not ref.strip():
            raise InvalidInput("task=locate needs the text to find in the field 'ref'",
                               ["Send ref, e.g. ref=\"the total\" / 请在 ref 字段中给出要定位的文字"])
        if "<|" in ref or "|>" in ref:
            raise InvalidInput("ref must be plain text, without <|...|> tags")
        return Task("locate", TASK_PRESETS["locate"].format(ref=ref.strip()), False)
    prompt = TASK_PRESETS[name]
    return Task(name, prompt, "<|grounding|>" in prompt)
