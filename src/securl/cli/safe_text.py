"""Text from servers, certificates and the environment, made safe to print on a terminal.

The rule (`printable`): every character a terminal would act on instead of showing,
or that can reorder or hide the text around it, is shown escaped, Python-literal style:

* C0 controls (U+0000-U+001F, TAB, LF and CR included: one value never spans lines), DEL
  (U+007F) and C1 controls (U+0080-U+009F, e.g. U+009B, a one-character CSI) as ``\\x1b``;
* Unicode format characters (category Cf: the bidirectional controls U+061C, U+200E,
  U+200F, U+202A-U+202E, U+2066-U+2069, the zero-width U+200B-U+200D, U+FEFF, ...), the line
  and paragraph separators U+2028 and U+2029, and lone surrogates as ``\\u202e`` (or
  ``\\U000e0041`` above U+FFFF);
* a backslash as ``\\\\``, so an escape in the output always stands for one character and a
  server cannot print text that looks like an escape it did not send.

Everything else, non-ASCII letters included, is left as it is. Bytes are decoded as UTF-8
first; a byte that is not valid UTF-8 is shown as ``\\xff``. `printable` never raises.
Only the final text printed for a person goes through it: JSON output is left to
`json.dumps`, which escapes control characters itself.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _safe_str(text: str, from_bytes: bool) -> str:
    if text.isprintable() and "\\" not in text:
        return text  # the usual case: nothing to escape
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char) not in _ESCAPED_CATEGORIES:
            out.append(char)
        elif from_bytes and 0xDC80 <= ord(char) <= 0xDCFF:
            out.append(f"\\x{ord(char) - 0xDC00:02x}")  # an undecodable byte
        else:
            out.append(_escape(char))
    return "".join(out)


def printable(text: object) -> str:
    """``text`` (any value; bytes are decoded as UTF-8) as a string safe for a terminal.

    See the module docstring for what is escaped and how. Never raises.
    """
    try:
        if isinstance(text, (bytes, bytearray, memoryview)):
            return _safe_str(bytes(text).decode("utf-8", "surrogateescape"), True)
        return _safe_str(str.__str__(text) if isinstance(text, str) else str(text), False)
    except Exception:
        return f"<unprintable {_safe_str(type(text).__name__, False)} value>"
