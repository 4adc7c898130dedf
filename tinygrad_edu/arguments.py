"""The CLI's argument types and its usage error, shared by every command (``cli`` and
``train_command``): a bad argument is one line and exit status 2."""
from __future__ import annotations

import argparse


class UsageError(Exception):
    """A bad argument found after parsing (an unknown optimizer, say): exit status 2."""


def number(convert, accept, expected: str):
    """An argparse ``type``: ``convert(text)`` (int or float) if ``accept`` holds for it, else
    the one-line error "expected <expected>, got '<text>'"."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


positive_int = number(int, lambda v: v >= 1, "a positive integer")
