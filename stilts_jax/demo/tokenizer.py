"""Offline assets: an XLM-R-format tokenizer trained on local text.

Real runs use the Hub tokenizer of `xlm-roberta-{base,large}`. Tests and the offline demo need the
same *kind* of tokenizer without a download, so we train a tiny sentencepiece unigram model and save
it in the layout the Hub uses (`sentencepiece.bpe.model` + `tokenizer_config.json` naming
`XLMRobertaTokenizer`). `transformers.AutoTokenizer.from_pretrained(dir)` then builds the same fast
XLM-R tokenizer class, with the fairseq id offset (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, spm ids
shifted by one, `<mask>` last).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable

XLMR_SPECIAL_IDS = {"bos": 0, "pad": 1, "eos": 2, "unk": 3}


def build_tokenizer(
    out_dir: str | os.PathLike,
    texts: Iterable[str],
    vocab_size: int = 1000,
    model_max_length: int = 512,
) -> str:
  """Trains a sentencepiece unigram model on `texts` and writes an XLM-R tokenizer directory.

  `vocab_size` is an upper bound (small corpora yield fewer pieces). Returns `out_dir` as a str;
  `AutoTokenizer.from_pretrained(out_dir)` loads it.
  """
  import sentencepiece as spm

  texts = [t for t in texts if t and t.strip()]
  if not texts:
    raise ValueError("build_tokenizer needs at least one non-empty training text.")
  os.makedirs(out_dir, exist_ok=True)
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(texts),
      model_writer=model,
      vocab_size=vocab_size,
      hard_vocab_limit=False,  # tiny corpora cannot fill a fixed vocab
      model_type="unigram",
      character_coverage=1.0,  # keep every CJK/Thai/Arabic/Devanagari character
      # XLM-R's own sentencepiece model has <unk>=0, <s>=1, </s>=2 and no pad; transformers'
      # converter drops those three pieces and puts the fairseq specials in front, so any other
      # layout would silently shift every id.
      unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
      minloglevel=2,
  )
  with open(os.path.join(out_dir, "sentencepiece.bpe.model"), "wb") as f:
    f.write(model.getvalue())
  config = {
      "tokenizer_class": "XLMRobertaTokenizer",
      "model_max_length": model_max_length,
      "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
      "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
  }
  with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
    json.dump(config, f, indent=2)
  return str(out_dir)
