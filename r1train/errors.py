"""User-facing errors: one exception type whose message is one sentence that says what to change.

Anything a user can cause (a bad recipe, a missing column, an unreachable model, a broken reward plugin)
raises :class:`UserError`; the CLI prints its message on one line and exits with status 2, no traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input; ``str(err)`` is the whole message shown to them."""
