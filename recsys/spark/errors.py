"""Errors of the Spark engine, with messages fit to show an analyst."""

from __future__ import annotations

INSTALL_HINT = ("the Spark engine needs pyspark and Java 17: pip install -r requirements-spark.txt "
                "(Debian: apt-get install -y openjdk-17-jre-headless)")


class SparkUnavailable(ImportError):
    """pyspark (or Java) is missing; the message says how to install them."""

    def __init__(self, reason: str = INSTALL_HINT):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class SparkDataError(ValueError):
    """Bad input for a Spark job: names the file, column or setting and what was wrong."""


def first_line(exc: BaseException) -> str:
    """The first non-blank line of ``exc``'s message (Spark's run to pages of JVM stack), or its type."""
    lines = [line.strip() for line in str(exc).strip("'\" \n").splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
