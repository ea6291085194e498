"""The offline demo (`stilts-jax --config=configs/demo.py`): its assets (`assets`: data, tokenizer
and a tiny random XLM-R, built once per workdir), synthetic multilingual data in the Hub schemas
(`data`, `lexicon`, written by `hub_files`) and the offline XLM-R-format tokenizer (`tokenizer`).

Kept import-light: configs/demo.py reads `data.DEMO_LANGUAGES` while flags are parsed.
"""
