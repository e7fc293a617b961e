"""``python -m coinbt.cli``: the same as the ``coinbt`` command."""

from coinbt.cli.app import main

raise SystemExit(main())
