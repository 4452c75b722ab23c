import sys

from heartsound.research.cli import main

sys.exit(main())
