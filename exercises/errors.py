"""What goes wrong with an exercise.

ExerciseError
 └── ScenarioInvalid   a scenario file refused before anything starts; names file and line
"""

from __future__ import annotations

from canhbao.errors import CanhbaoError


class ExerciseError(CanhbaoError):
    """Base of the exercises domain's errors."""


class ScenarioInvalid(ExerciseError):
    """A scenario refused as a whole, with where: `source:line: reason`."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")
