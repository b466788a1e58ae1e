"""Profile one client's GET loop against the benchmark nginx with pyinstrument.

    python benchmarks/profile_securl.py [--client NAME] [--close] [--n 3000] [--html out.html]

Used to find what securl adds over raw urllib3 on the hot path (see NOTES.md).
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
sys.path[:0] = [HERE, SRC]

from _clients import FACTORIES, Env  # noqa: E402
from _server import Nginx  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", default="securl.Session", choices=sorted(FACTORIES))
    parser.add_argument("--close", action="store_true", help="a new connection per request")
    parser.add_argument("--n", type=int, default=3000, help="number of GETs (bounded)")
    parser.add_argument("--html", help="write an HTML profile here instead of text")
    args = parser.parse_args()
    from pyinstrument import Profiler

    with Nginx() as server:
        assert server.certs is not None
        os.environ["SSL_CERT_FILE"] = server.certs.ca_file
        env = Env(server.base_url, "127.0.0.1", server.port, server.certs.ca_file)
        client = FACTORIES[args.client](env)
        for _ in range(3):
            client.get("/small", args.close)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(min(args.n, 100_000)):
            client.get("/small", args.close)
        profiler.stop()
        client.close()
    if args.html:
        with open(args.html, "w") as f:
            f.write(profiler.output_html())
    else:
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
