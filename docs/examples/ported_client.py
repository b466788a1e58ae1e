"""A small requests client, ported to securl: login cookie, params=, json=, Basic auth,
retries, a 404 handled through the error's response, and a streamed download.

Run it as ``python ported_client.py BASE_URL CA_FILE OUTPUT``. The requests original
differed only in its imports, ``verify=CA_FILE`` (here ``ca_certs=``) and the retrying
adapter (here ``retries=``).
"""

from __future__ import annotations

import sys

import securl


def main(base: str, ca_file: str, output: str) -> int:
    session = securl.Session(ca_certs=ca_file,
                             retries=securl.Retries(total=2, backoff_factor=0.1))
    login = session.post(f"{base}/login", data={"user": "alice", "password": "pw"})
    login.raise_for_status()  # the server sets a session cookie; the Session keeps it

    found = session.get(f"{base}/search", params={"q": "tls", "page": 2})
    print("search:", found.status_code, found.json()["query"])

    created = session.post(f"{base}/items", json={"name": "probe"},
                           auth=("alice", "token"))  # Basic, sent with the first request
    print("created:", created.status_code, created.json()["name"])

    try:
        session.get(f"{base}/missing").raise_for_status()
    except securl.HTTPStatusError as exc:  # also a urllib.error.HTTPError
        print("missing:", exc.response.status_code, exc.response.json()["error"])

    with session.get(f"{base}/download", stream=True) as response, \
            open(output, "wb") as out:
        for chunk in response.iter_content(chunk_size=64 * 1024):
            out.write(chunk)
    print("downloaded:", output)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
