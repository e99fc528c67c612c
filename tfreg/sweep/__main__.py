import sys

from tfreg.sweep.cli import main

sys.exit(main())
