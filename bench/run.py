"""``python bench/run.py [--quick] [--runs N] [--only w1,w2,...] [--shape N=,rate=,size=]
[--output PATH]``."""

import sys
from pathlib import Path

if not __package__:  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
