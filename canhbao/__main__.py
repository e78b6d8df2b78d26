"""`python -m canhbao` is the same as the `canhbao` command."""

from canhbao.cli import main

raise SystemExit(main())
