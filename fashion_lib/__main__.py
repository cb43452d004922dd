"""`python -m fashion_lib`: the project's command line."""

from fashion_lib.cli import main

raise SystemExit(main())
