"""Runtime: the run's processes (``distributed``), checkpoints and exact resume (``checkpoint``), run
directories that never lose a run (``outputs``) and memory planning (``plan``). Imports nothing itself."""
