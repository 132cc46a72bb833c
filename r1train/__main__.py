"""``python -m r1train …`` is the same CLI as the ``r1train`` command."""

from r1train.cli import main

raise SystemExit(main())
