"""Telemetry: ``metrics.jsonl`` and the progress bar (``metrics``), W&B (``tracking``), stage timers
(``profile``), curves (``plots``), reasoning metrics (``reasoning``) and before/after summaries
(``summary``). Imports nothing itself."""
