import sys

from minitorrent.cli import main

sys.exit(main())
