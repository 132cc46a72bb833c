"""The progress bar on a terminal, and the third-party noise filter (the plain lines and the warnings are
tested through the trainer in tests/r1train/train/test_run_logs.py)."""

from __future__ import annotations

import io
import os
import re
import warnings

import pytest

from r1train.telemetry.console import QUIET_ENV, quiet_third_party
from r1train.telemetry.metrics import Progress, clock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_on_a_terminal_shows_elapsed_and_seconds_per_step() -> None:
    screen = Terminal()
    progress = Progress(total=4, start=0, stream=screen)
    progress.t0 -= 10.0  # as if the first step took 10 s
    progress.update(0.25, 7.0)
    progress.close()
    text = screen.getvalue()
    # 10.0x s/step, 3 steps left: ETA 30 s
    assert re.search(r"reward 0\.250  len 7  10\.\d\d s/step  elapsed.*ETA 0:00:30", text), text
    assert "step 1/4" not in text  # a bar, not the plain lines
    assert clock(3725) == "1:02:05" and clock(-1) == "0:00:00"


def test_noise_is_filtered_unless_verbose_and_the_users_own_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TQDM_DISABLE", "0")  # the user's choice
    with warnings.catch_warnings():
        quiet_third_party(verbose=True)
        assert os.environ["VLLM_LOGGING_LEVEL"] == "WARNING" and "TORCH_CPP_LOG_LEVEL" not in os.environ
        monkeypatch.delenv("VLLM_LOGGING_LEVEL")
        quiet_third_party(verbose=False)
        assert os.environ["VLLM_LOGGING_LEVEL"] == "ERROR" and os.environ["TORCH_CPP_LOG_LEVEL"] == "ERROR"
        assert os.environ["TQDM_DISABLE"] == "0"
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn("old API", FutureWarning, stacklevel=1)
            warnings.warn("a real problem", UserWarning, stacklevel=1)
        assert [str(w.message) for w in seen] == ["a real problem"]
    from transformers.utils import logging as hf_logging

    assert not hf_logging.is_progress_bar_enabled()
    with warnings.catch_warnings():  # the hub read its variable at import: it may refuse, harmlessly
        warnings.simplefilter("ignore")
        hf_logging.enable_progress_bar()
