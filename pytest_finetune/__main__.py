import sys

from pytest_finetune.cli.main import main

sys.exit(main())
