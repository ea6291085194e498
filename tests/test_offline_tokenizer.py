"""The offline XLM-R tokenizer loads through AutoTokenizer (and the pipeline's loader) with XLM-R's id
conventions."""

import os

from transformers import AutoTokenizer


def test_tokenizer_dir_layout_and_autotokenizer(tokenizer_dir):
  assert sorted(os.listdir(tokenizer_dir)) == ["sentencepiece.bpe.model", "tokenizer_config.json"]
  tok = AutoTokenizer.from_pretrained(tokenizer_dir)
  assert type(tok).__name__.startswith("XLMRobertaTokenizer")
  assert tok.is_fast  # offsets are needed for QA featurization
  # fairseq specials as in xlm-roberta-base/large.
  assert (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id, tok.unk_token_id) == (0, 1, 2, 3)
  assert tok.mask_token_id == len(tok) - 1


def test_pair_encoding_is_xlmr_style_and_scripts_are_known(tokenizer):
  enc = tokenizer("A man is playing.", "一个男人在街上弹吉他。")
  ids = enc["input_ids"]
  # <s> A </s></s> B </s>
  assert ids[0] == 0 and ids[-1] == 2
  assert [i for i, t in enumerate(ids) if t == 2] == [ids.index(2), ids.index(2) + 1, len(ids) - 1]
  for text in ["สุนัขจิ้งจอก", "الكلب", "कुत्ते", "собаку"]:
    pieces = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert pieces and tokenizer.unk_token_id not in pieces, (text, pieces)


def test_load_tokenizer_equals_autotokenizer_and_leaves_torch_alone(tokenizer_dir, tmp_path):
  """The pipeline's loader gives AutoTokenizer's tokenizer without importing torch, which
  AutoTokenizer does whenever torch is installed (transformers' config machinery: 3 s a launch)."""
  import subprocess
  import sys

  import pytest

  from stilts_jax.models import CheckpointError, load_tokenizer
  ours, auto = load_tokenizer(str(tokenizer_dir)), AutoTokenizer.from_pretrained(tokenizer_dir)
  assert type(ours) is type(auto) and ours.is_fast
  texts = ["A man is playing.", "一个男人在街上弹吉他。", "สุนัขจิ้งจอก"]
  assert ours(texts, texts[::-1])["input_ids"] == auto(texts, texts[::-1])["input_ids"]
  with pytest.raises(CheckpointError, match="cannot load the tokenizer .*--config.model.tokenizer"):
    load_tokenizer(str(tmp_path / "no-such-dir"))
  code = ("import sys\nfrom stilts_jax.models import load_tokenizer\n"
          f"load_tokenizer({str(tokenizer_dir)!r})\nprint('torch imported:', 'torch' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert "torch imported: False" in out.stdout, out.stdout + out.stderr
