"""python -m kerasauto: the command line (kerasauto.cli)."""
import sys

from kerasauto.cli import main

sys.exit(main())
