"""`python -m typedsse`: the same as the `typedsse` command."""

from typedsse.cli import console

console()
