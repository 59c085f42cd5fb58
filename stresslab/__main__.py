"""`python -m stresslab`."""

import sys

from stresslab.cli import main

sys.exit(main())
