"""The ``securl`` command (also ``python -m securl``): argument parsing and dispatch only.

Each subcommand's work lives in its own module of ``securl.cli`` (``demo``, ``check``,
``doctor``, ``get``), imported only when that subcommand runs; ``admin`` and ``pin`` are
handed, with their raw arguments, to ``securl.cli.admin.admin_main`` and
``securl.cli.pin.pin_main``. Exit codes follow one table across subcommands
(`securl.cli.outcomes`): 0 success, 1 not verified / problems found, 2 usage or
configuration error, 3 HTTP error status (``get``), 4 network error, 5 refused by the admin
policy, 130 interrupted. A bad flag prints the usage of the subcommand it was given to.

Text a subcommand prints for a person goes through `securl.cli.safe_text.printable`
when it holds anything from a server, a certificate, the environment or an exception, so no
control character reaches the terminal raw; ``--json`` output is `json.dumps`'s, which
escapes control characters itself.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._version import __version__
from .outcomes import EXIT_INTERRUPTED, EXIT_USAGE
from .safe_text import printable

__all__ = ["build_parser", "main"]

EXIT_CODES = ("Exit codes: 0 ok, 1 not verified / problems found, 2 usage, 3 HTTP status "
              ">= 400, 4 network error, 5 refused by the admin policy, 130 interrupted.")

#: Subcommands implemented elsewhere: name -> (module, function taking the raw argv list).
DELEGATED: dict[str, tuple[str, str, str]] = {
    "admin": ("securl.cli.admin", "admin_main",
              "install or remove the sitecustomize hook, show the effective policy"),
    "pin": ("securl.cli.pin", "pin_main",
            "print a server's public-key pin (sha256/...), optionally add it to a pins file"),
}


def _delegate(name: str, argv: Sequence[str]) -> int:
    module_name, function, _ = DELEGATED[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # a real bug inside the module: show it
        module = None
    entry: Callable[[list[str]], int] | None = getattr(module, function, None)
    if entry is None:
        print(f"securl {name}: not available in this build of securl ({module_name}."
              f"{function} is missing); install a complete securl release", file=sys.stderr)
        return EXIT_USAGE
    return int(entry(list(argv)))


def _cmd_demo(ns: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(sys.stdout, ns.cert_backend)


def _cmd_check(ns: argparse.Namespace) -> int:
    from .check import CheckError, check, format_result

    try:
        result = check(ns.url, ca_certs=ns.ca_certs, timeout=ns.timeout)
    except CheckError as exc:
        if ns.json:
            print(json.dumps({"url": ns.url, "verified": False, "error": str(exc)}, indent=2))
        print(f"securl check: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(result.to_dict(), indent=2) if ns.json else format_result(result))
    return result.exit_code


def _cmd_doctor(ns: argparse.Namespace) -> int:
    from .doctor import collect, format_report

    report = collect()
    print(json.dumps(report, indent=2, default=str) if ns.json else format_report(report))
    return 1 if report["problems"] else 0


def _cmd_get(ns: argparse.Namespace) -> int:
    from .get import FetchOptions, fetch, parse_header

    try:
        headers = [parse_header(h) for h in ns.header]
    except ValueError as exc:
        print(f"securl get: -H: {printable(exc)}", file=sys.stderr)
        return EXIT_USAGE
    options = FetchOptions(
        url=ns.url, output=ns.output, headers=headers, ca_certs=ns.ca_certs, cert=ns.cert,
        key=ns.key, pins=ns.pin, timeout=ns.timeout, max_redirects=ns.max_redirects,
        verbose=ns.verbose, max_size=ns.max_size, deadline=ns.deadline,
    )
    return fetch(options, sys.stdout.buffer, sys.stderr)


def _cmd_delegated(ns: argparse.Namespace) -> int:
    return _delegate(ns.command, ns.args)


def _positive(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a positive, finite number of seconds")
    return value


def _size(text: str) -> int | None:
    from .get import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree (documented in docs/cli.md)."""
    parser = argparse.ArgumentParser(
        prog="securl",
        description="Secure-by-default HTTPS: verified TLS from the system trust store.",
        epilog=EXIT_CODES,
    )
    parser.add_argument("--version", action="version", version=f"securl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="show securl on a local HTTPS server with a throwaway CA",
                          description="Start two HTTPS servers on 127.0.0.1 (a throwaway CA's "
                          "and a self-signed one) and show a verified fetch, a refusal, an "
                          "audited opt-out and a pinned fetch.")
    demo.add_argument("--cert-backend", choices=("auto", "cryptography", "openssl"),
                      default="auto", help="how to make the throwaway certificates "
                      "(default: cryptography if installed, else the openssl command)")
    demo.set_defaults(func=_cmd_demo)

    check = sub.add_parser("check", help="explain a server's certificate and TLS setup",
                           description="Connect (no HTTP request is sent), verify as securl "
                           "would, print the chain, TLS version, cipher, trust source and a "
                           "verdict. Exit 0 verified, 1 not verified, 2 usage error, 4 network "
                           "error.")
    check.add_argument("url", help="https://host[:port]/ or host[:port]")
    check.add_argument("--ca-certs", metavar="PEM", help="trust only these CAs (file or dir)")
    check.add_argument("--timeout", type=_positive, default=10.0, metavar="SECONDS",
                       help="connect and handshake timeout (default 10)")
    check.add_argument("--json", action="store_true", help="print JSON for scripts")
    check.set_defaults(func=_cmd_check)

    doctor = sub.add_parser("doctor", help="show what decides trust in this Python",
                            description="Python and OpenSSL versions, trust source and why, "
                            "relevant environment variables, the policy file, sitecustomize, "
                            "the guard, and any process-wide verification disable. Exit 1 if "
                            "something weakens verification.")
    doctor.add_argument("--json", action="store_true", help="print JSON for scripts")
    doctor.set_defaults(func=_cmd_doctor)

    get = sub.add_parser("get", help="download a URL with verified TLS (curl-like)",
                         description="Verified download (body not written for an HTTP "
                         "status >= 400). " + EXIT_CODES)
    get.add_argument("url")
    get.add_argument("-o", "--output", metavar="FILE",
                     help="write the body to FILE atomically (default: stdout)")
    get.add_argument("-H", "--header", action="append", default=[], metavar="'Name: value'",
                     help="add a request header (repeatable); 'Name:' removes a default one")
    get.add_argument("--ca-certs", metavar="PEM", help="trust only these CAs (file or dir)")
    get.add_argument("--cert", metavar="PEM", help="client certificate (2-way TLS)")
    get.add_argument("--key", metavar="PEM", help="client key, if not inside --cert")
    get.add_argument("--pin", action="append", default=[], metavar="sha256/...",
                     help="require this public-key pin on top of verification (repeatable)")
    get.add_argument("--timeout", type=_positive, default=30.0, metavar="SECONDS",
                     help="connect timeout, and the longest wait for the next bytes "
                     "(default 30)")
    get.add_argument("--deadline", type=_positive, default=300.0, metavar="SECONDS",
                     help="the whole download, redirects included (default 300)")
    get.add_argument("--max-size", type=_size, default=100 * 1024 * 1024, metavar="SIZE",
                     help="the largest body accepted: bytes, or with K, M, G, T "
                     "(300M, 2G), or none (default 100M)")
    get.add_argument("--max-redirects", type=int, default=10, metavar="N")
    get.add_argument("-v", "--verbose", action="store_true",
                     help="show the TLS connection, the request line and headers on stderr "
                     "(secrets redacted)")
    get.set_defaults(func=_cmd_get)

    for name, (_, _, summary) in DELEGATED.items():
        delegated = sub.add_parser(name, help=summary, add_help=False)
        delegated.add_argument("args", nargs=argparse.REMAINDER)
        delegated.set_defaults(func=_cmd_delegated)
    for subparser in sub.choices.values():  # a bad flag shows its subcommand's usage
        subparser.set_defaults(subparser=subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``securl`` command with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in DELEGATED:
        # Hand everything after the name over untouched, options included (argparse's
        # REMAINDER would reject a leading "--flag").
        return _delegate(args[0], args[1:])
    parser = build_parser()
    ns: Any
    try:
        parsed: tuple[Any, list[str]] = parser.parse_known_args(args)
        ns, unknown = parsed
        if unknown:
            owner = getattr(ns, "subparser", None) or parser
            owner.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if ns.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(ns.func(ns))
    except KeyboardInterrupt:
        print(f"securl {ns.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
