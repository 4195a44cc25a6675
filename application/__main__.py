import sys

from application.cli import main

sys.exit(main())
