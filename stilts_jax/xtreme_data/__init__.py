"""XTREME's own data, one command away: `stilts-jax-data prepare` (cli.py) fetches the archives
(recipes.py, pinned hashes in checksums.py) with resumable, verified downloads (download.py) and
lays them out for the loader (prepare.py); origin.py says where a loaded split's data came from."""
