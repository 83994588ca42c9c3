"""The one error type of model validation: it names the field and the problem."""

from __future__ import annotations


class GenomeError(ValueError):
    """A circuit or genome is invalid.

    Attributes
    ----------
    field : str
        Dotted path of the offending field, e.g. ``populations[2].model.tau_m``.
    problem : str
        What is wrong with it.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
