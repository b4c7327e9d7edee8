"""The token checker, with testlib's semantics (also imported by the host).

Tokens are separated by any whitespace. Two integers must be equal as written; two numbers of which
at least one is not an integer are accepted when they differ by at most ``float_tol``, absolutely or
relative to the expected value (testlib's ``doubleCompare``); other tokens compare as strings,
case-insensitively when asked. Numbers are compared in exact decimal arithmetic on the printed
tokens, so a difference equal to the tolerance is accepted at any magnitude: binary rounding never
decides a verdict (testlib gets the same effect with a 1e-15 slack, which stops working above ~1).
"""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation

_INT_TOKEN = re.compile(r"[+-]?[0-9]+\Z")  # ASCII digits only, as a judge reads them
_NUMBER_TOKEN = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
# Digits of working precision at most: enough for any tolerance a problem states; a hostile
# token with more digits is compared after rounding there, far below any tolerance.
_MAX_PRECISION = 5000


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def numbers_close(expected: str, actual: str, tolerance: Decimal) -> bool:
    """Whether two number tokens differ by at most ``tolerance`` (absolute, or relative to
    ``expected``), computed exactly on their decimal text."""
    try:
        want, got = Decimal(expected), Decimal(actual)
    except InvalidOperation:
        return False
    top = max(want.adjusted(), got.adjusted(), tolerance.adjusted(), 0)
    bottom = min(_exponent(want), _exponent(got), _exponent(tolerance) + _exponent(want), 0)
    precision = min(max(top - bottom + 10, 28), _MAX_PRECISION)
    context = Context(prec=precision, Emax=MAX_EMAX, Emin=MIN_EMIN)
    difference = context.abs(context.subtract(want, got))
    if difference <= tolerance:
        return True
    return difference <= context.multiply(tolerance, context.abs(want))


def tokens_equal(expected: str, actual: str, tolerance: Decimal, case_sensitive: bool) -> bool:
    if expected == actual:
        return True
    if _INT_TOKEN.match(expected) and _INT_TOKEN.match(actual):
        return False  # integers compare exactly, as written
    if _NUMBER_TOKEN.match(expected) and _NUMBER_TOKEN.match(actual):
        return numbers_close(expected, actual, tolerance)
    if not case_sensitive:
        return expected.casefold() == actual.casefold()
    return False


def _line_of_token(text: str, index: int) -> int:
    for number, match in enumerate(re.finditer(r"\S+", text)):
        if number == index:
            return text.count("\n", 0, match.start()) + 1
    return text.count("\n") + 1


def _clip(token: str, limit: int = 40) -> str:
    return token if len(token) <= limit else token[:limit] + "..."


def tolerance_of(float_tol: float | str) -> Decimal:
    """The tolerance as the decimal a user wrote: 1e-6 is exactly 0.000001, not the nearest double."""
    return Decimal(repr(float_tol)) if isinstance(float_tol, float) else Decimal(str(float_tol))


def compare_tokens(
    expected: str, actual: str, float_tol: float = 1e-6, case_sensitive: bool = True
) -> tuple[bool, str]:
    """Compare outputs token by token; returns (accepted, message explaining a mismatch).

    Trailing spaces, line breaks and blank lines do not matter (see the module docstring for the
    rules per token).
    """
    want, got = expected.split(), actual.split()
    if want == got:
        return True, ""
    tolerance = tolerance_of(float_tol)
    for index, (a, b) in enumerate(zip(want, got, strict=False)):
        if not tokens_equal(a, b, tolerance, case_sensitive):
            line = _line_of_token(actual, index)
            return False, f"token {index + 1} (line {line}): expected {_clip(a)!r}, got {_clip(b)!r}"
    if len(want) != len(got):
        if len(got) < len(want):
            missing = _clip(want[len(got)])
            return False, f"output ended after {len(got)} tokens, expected {len(want)} (next: {missing!r})"
        return False, f"expected {len(want)} tokens, got {len(got)} (extra: {_clip(got[len(want)])!r})"
    return True, ""
