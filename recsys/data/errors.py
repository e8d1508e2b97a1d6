"""The one exception type the data layer raises for bad input files or tables."""

from __future__ import annotations


class DataValidationError(ValueError):
    """A problem with the analyst's data, located as precisely as we can.

    Parameters
    ----------
    message : str
        What is wrong, in plain words.
    file : str, optional
        File name (not a full path) the problem was found in.
    column : str, optional
        Source column name.
    row : int, optional
        Source row number, counted as a spreadsheet shows the file (header = row 1).
    code : str
        Short machine-readable kind, e.g. ``"empty_file"``; the validation report
        uses it as the issue code.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        row: int | None = None,
        code: str = "invalid_data",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.column = column
        self.row = row
        self.code = code

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def __reduce__(self):
        # Keep keyword attributes when pickled across processes (background jobs).
        return (_rebuild, (self.message, self.file, self.column, self.row, self.code))


def _rebuild(message, file, column, row, code) -> DataValidationError:
    return DataValidationError(message, file=file, column=column, row=row, code=code)
