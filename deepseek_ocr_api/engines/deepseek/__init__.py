"""The DeepSeek-OCR engine: `engine` (the Engine), `native` (DeepSeek-OCR-2 through transformers), `remote_code`
(v1 through the hub's code), `accelerator` (devices), `settings` and `modes` (torch-free, read at start-up)."""
