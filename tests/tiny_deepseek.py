"""DeepSeek-OCR-2 checkpoints of the real architecture with random weights, built on disk: tiny for the tests,
full-size (about 3.4 B parameters) for bench/deepseek_bench.py. Nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ["<｜begin_of_sentence｜>", "<｜end_of_sentence｜>", "<｜pad｜>", "<image>",
                  "<|grounding|>", "<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>"]
# Enough ordinary characters for prompts and decoded junk: ASCII printables and a few CJK.
ALPHABET = [chr(code) for code in range(33, 127)] + list("文字识别中英")


TINY = dict(
    text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
              moe_intermediate_size=16, n_routed_experts=4, n_shared_experts=1, num_experts_per_tok=2,
              mlp_layer_types=["dense", "sparse"], max_position_embeddings=4096),
    # The neck's last channel count must equal the encoder's hidden size.
    sam=dict(hidden_size=16, output_channels=16, num_hidden_layers=2, num_attention_heads=2, global_attn_indexes=[1],
             window_size=14, downsample_channels=[16, 32], mlp_dim=32),
    encoder=dict(vocab_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4),
)
# deepseek-community/DeepSeek-OCR-2: DeepSeek-3B-MoE decoder, SAM ViT-B, Qwen2-0.5B-sized visual encoder.
FULL = dict(
    text=dict(vocab_size=129280, hidden_size=1280, intermediate_size=6848, num_hidden_layers=12,
              num_attention_heads=10, num_key_value_heads=10, moe_intermediate_size=896, n_routed_experts=64,
              n_shared_experts=2, num_experts_per_tok=6, n_group=1, topk_group=1,
              mlp_layer_types=["dense"] + ["sparse"] * 11, max_position_embeddings=8192),
    sam=dict(downsample_channels=[512, 896]),
    encoder=dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
)


def build_tiny_checkpoint(folder: Path) -> Path:
    """A few-hundred-thousand-parameter checkpoint with its processor, for the tests."""
    return build_checkpoint(folder, TINY)


def build_checkpoint(folder: Path, sizes: dict, dtype=None) -> Path:
    """Write a DeepseekOcr2 checkpoint of `sizes` (TINY or FULL) with random weights and its processor into `folder`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import (
        DeepseekOcr2Config,
        DeepseekOcr2ForConditionalGeneration,
        DeepseekOcr2ImageProcessorPil,
        DeepseekOcr2Processor,
        PreTrainedTokenizerFast,
    )

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + ["▁"] + ALPHABET)}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="▁"))
    raw.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Split("", "isolated")])
    raw.decoder = decoders.Metaspace()
    raw.add_special_tokens(SPECIAL_TOKENS)
    bos, eos = SPECIAL_TOKENS[0], SPECIAL_TOKENS[1]
    raw.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, vocab[bos])])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=bos, eos_token=eos,
                                        pad_token=SPECIAL_TOKENS[2], unk_token="▁", padding_side="left",
                                        extra_special_tokens={"image_token": "<image>"})

    # A vocabulary larger than the tokenizer's (the full size) costs what the real one costs; unused ids stay unused.
    text = {"vocab_size": len(vocab), **sizes["text"], "bos_token_id": vocab[bos], "eos_token_id": vocab[eos],
            "pad_token_id": vocab[SPECIAL_TOKENS[2]]}
    config = DeepseekOcr2Config(text_config=text,
                                vision_config={"sam_config": sizes["sam"], "encoder_config": sizes["encoder"]},
                                image_token_id=vocab["<image>"])
    torch.manual_seed(0)
    model = DeepseekOcr2ForConditionalGeneration._from_config(config, dtype=dtype or torch.float32).eval()
    model.generation_config.pad_token_id = vocab[SPECIAL_TOKENS[2]]
    model.generation_config.eos_token_id = vocab[eos]
    model.generation_config.bos_token_id = vocab[bos]
    processor = DeepseekOcr2Processor(image_processor=DeepseekOcr2ImageProcessorPil(), tokenizer=tokenizer)

    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
