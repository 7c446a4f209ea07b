"""`python -m harness` is the same as the `queue-chaos` command."""

from harness.cli import main

raise SystemExit(main())
