"""Certificate numbers: random, long enough that guessing one is hopeless.

A number is the program id and 20 characters of Crockford's base32 (100 random
bits), printed in groups of five: `PSS-7K2QD-M9XRT-0B4NF-H6WZC`. Crockford's
alphabet has no I, L, O or U, so a number read aloud or typed from paper survives
the usual confusions: look-ups map O to 0 and I or L to 1 before searching.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_CHARACTERS = 20
GROUP = 5
MAX_PREFIX_LENGTH = 12
# Long enough for any program id and the grouped random part, with room to spare.
MAX_INPUT_LENGTH = 80

_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.]+")


def new_number(program_id: str) -> str:
    """A fresh random number for a certificate of the given program."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARACTERS))
    return _format(prefix_for(program_id), body)


def prefix_for(program_id: str) -> str:
    """The letters of a program id, which open each of its certificate numbers."""
    letters = re.sub(r"[^A-Z]", "", program_id.upper())[:MAX_PREFIX_LENGTH]
    return letters or "CERT"


def canonical(raw: str) -> str:
    """The stored form of a typed or scanned number; garbage stays garbage.

    Whatever comes in, a string comes out, so a look-up always does the same work.
    """
    compact = _SEPARATORS.sub("", raw[:MAX_INPUT_LENGTH].upper())
    prefix, body = compact[:-RANDOM_CHARACTERS], compact[-RANDOM_CHARACTERS:]
    if not prefix.isalpha() or len(body) != RANDOM_CHARACTERS:
        return compact
    return _format(prefix, body.translate(_LOOKALIKES))


def _format(prefix: str, body: str) -> str:
    groups = [body[start : start + GROUP] for start in range(0, len(body), GROUP)]
    return "-".join([prefix, *groups])
