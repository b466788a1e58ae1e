"""Run in a fresh interpreter by the harness; prints one number.

    python _child.py import MODULE          seconds to import MODULE: "<wall> <cpu>"
    python _child.py install                seconds of `import securl; securl.install()`
                                            and of install() alone ("<total> <install>")
    python _child.py rss CLIENT URL CA N    peak RSS (KiB) after N GETs of URL/small
    python _child.py warm URL CA            import everything the others import, and GET once
                                            with every client (writes the bytecode cache)
"""

from __future__ import annotations

import sys
import time


def peak_rss_kib(ru_maxrss: int) -> int:
    """This process's peak RSS in KiB.

    Linux carries ``ru_maxrss`` across fork and exec: a child started by a large harness
    reports the harness's RSS if that was larger (every client then "uses" the same 80 MiB).
    ``VmHWM`` in /proc/self/status is the high-water mark of this program's own memory map,
    which starts afresh at exec; ``ru_maxrss`` is used where /proc is not available.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return ru_maxrss


def main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "import":
        cpu = time.process_time()
        start = time.perf_counter()
        try:
            __import__(argv[1])
        except ImportError:
            print("n/a")
            return 0
        print(time.perf_counter() - start, time.process_time() - cpu)
        return 0
    if mode == "install":
        start = time.perf_counter()
        import securl

        install = getattr(securl, "install", None)
        if install is None:
            print("n/a")
            return 0
        mid = time.perf_counter()
        install()
        end = time.perf_counter()
        print(end - start, end - mid)
        return 0
    if mode == "rss":
        import resource
        import urllib.parse

        from _clients import FACTORIES, Env, Unavailable

        name, base, ca, n = argv[1], argv[2], argv[3], int(argv[4])
        parts = urllib.parse.urlsplit(base)
        env = Env(base, parts.hostname or "127.0.0.1", parts.port or 443, ca)
        try:
            client = FACTORIES[name](env)
        except Unavailable as exc:
            print(str(exc))
            return 0
        for _ in range(n):
            body = client.get("/small")
            if len(body) != 100:
                raise SystemExit(f"{name}: wrong body length {len(body)}")
        client.close()
        print(peak_rss_kib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
        return 0
    if mode == "warm":
        import contextlib
        import resource
        import urllib.parse

        from _clients import CLIENTS, Env, Unavailable

        for module in ("securl", "urllib3", "requests", "httpx", "urllib.request", "truststore"):
            with contextlib.suppress(ImportError):
                __import__(module)
        base, ca = argv[1], argv[2]
        parts = urllib.parse.urlsplit(base)
        env = Env(base, parts.hostname or "127.0.0.1", parts.port or 443, ca)
        for _name, factory in CLIENTS:
            try:
                client = factory(env)
            except Unavailable:
                continue
            client.get("/small")
            client.close()
        print("ok")
        return 0
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
