"""Runtime: the run's processes (``distributed``), checkpoints and exact resume (``checkpoint``, ``resume``,
``integrity``), run directories that never lose a run (``outputs``, ``lock``) and memory planning
(``plan``). Imports nothing itself."""
