"""The run configs, one Python file each (ml-collections): `stilts-jax --config=configs/NAME.py`.

A package so that config files build on each other by import (`from configs import base`). The
CLI imports this folder from its own path (`run_config.use_config_package`), so the checkout's
files are the ones a run uses; from the repository root, `import configs.stilts` works as well.
"""
