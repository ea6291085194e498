"""The offline XLM-R tokenizer loads through AutoTokenizer with XLM-R's id conventions."""

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
