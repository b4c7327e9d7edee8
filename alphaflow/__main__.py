import sys

from alphaflow.cli import main

sys.exit(main())
