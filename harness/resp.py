"""Read back the commands a client sent: which keys each round trip touched.

The injector sees only the bytes redis-py packs for a round trip. Scenarios aim a fault at
"the round trip that writes the old job record" rather than at a number, so the same
scenario fits any target; this module turns those bytes back into commands and keys.
"""

from __future__ import annotations

from collections.abc import Iterable

# Commands whose keys are all their arguments, the first argument, or the first two.
_ALL_ARGS_ARE_KEYS = frozenset({"DEL", "UNLINK", "EXISTS", "WATCH", "MGET", "TOUCH"})
_TWO_KEYS = frozenset({"LMOVE", "BLMOVE", "RPOPLPUSH", "BRPOPLPUSH", "RENAME", "RENAMENX",
                       "SMOVE", "COPY"})
_NO_KEYS = frozenset({"MULTI", "EXEC", "DISCARD", "PING", "SCAN", "SCRIPT", "INFO", "TIME",
                      "CLIENT", "HELLO", "SELECT", "FLUSHALL", "FLUSHDB", "UNWATCH", "ECHO"})
_SCRIPTS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})


def parse_commands(packed: bytes) -> list[list[str]]:
    """RESP arrays of bulk strings (what clients send) -> commands as lists of strings."""
    commands: list[list[str]] = []
    pos = 0
    while pos < len(packed):
        if packed[pos:pos + 1] != b"*":
            break  # not a RESP array (inline command or a cut buffer): stop, keep what we have
        end = packed.index(b"\r\n", pos)
        count = int(packed[pos + 1:end])
        pos = end + 2
        args: list[str] = []
        for _ in range(count):
            end = packed.index(b"\r\n", pos)
            length = int(packed[pos + 1:end])
            start = end + 2
            args.append(packed[start:start + length].decode("utf-8", "replace"))
            pos = start + length + 2
        commands.append(args)
    return commands


def keys_of(command: list[str]) -> list[str]:
    """The key arguments of one command (a best effort that covers what queues use)."""
    if not command:
        return []
    name, args = command[0].upper(), command[1:]
    if name in _NO_KEYS or not args:
        return []
    if name in _SCRIPTS:
        numkeys = int(args[1]) if len(args) > 1 and args[1].isdigit() else 0
        return args[2:2 + numkeys]
    if name in _ALL_ARGS_ARE_KEYS:
        return list(args)
    if name in _TWO_KEYS:
        return args[:2]
    if name == "MSET":
        return args[::2]
    return args[:1]


def keys_touched(packed: Iterable[bytes]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(command names, keys) of one round trip's packed chunks."""
    data = b"".join(packed)
    try:
        commands = parse_commands(data)
    except (ValueError, IndexError):
        return (), ()
    names = tuple(c[0].upper() for c in commands if c)
    keys = tuple(k for c in commands for k in keys_of(c))
    return names, keys
