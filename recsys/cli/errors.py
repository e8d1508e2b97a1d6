"""The error type CLI commands raise for a clean, one-line failure."""


class CliError(Exception):
    """Reported as ``error: <reason>`` plus optional details; the process exits with code 2."""

    def __init__(self, reason: str, details: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.details = details
