"""Errors meant for the user.  The CLI prints them without a traceback."""


class L2GError(Exception):
    """Base class: a message a user can act on (what failed, where, and what to do)."""

    exit_code = 1


class ToolchainError(L2GError):
    """A required external tool is missing or broken (names the package that provides it)."""

    exit_code = 3
