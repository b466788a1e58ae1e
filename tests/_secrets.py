"""Known test secrets. Any test may send these; none may ever show up in a log record, a
warning, an audit event or an exception message (``tests/_secret_guard.py`` enforces it).

They use only URL-safe characters, so percent-encoding cannot disguise them.
"""

from __future__ import annotations

import base64

TEST_USER = "robust-user"
TEST_PASSWORD = "pw-Q7x2-Hunter2-9vZ"
TEST_BEARER = "tok-Bearer-3f9a1c77e2b04d"
TEST_COOKIE = "sess-C00k1e-5b1d9e7a"
#: Every PEM private key (RSA, EC, PKCS#8, encrypted) contains this text.
PRIVATE_KEY_MARKER = "PRIVATE KEY-----"
#: What a Basic Authorization header carries for TEST_USER/TEST_PASSWORD.
TEST_BASIC_B64 = base64.b64encode(f"{TEST_USER}:{TEST_PASSWORD}".encode()).decode()

#: Request headers carrying TEST_BEARER and TEST_COOKIE (the ``secret_session`` fixture).
SECRET_HEADERS = {"Authorization": f"Bearer {TEST_BEARER}", "Cookie": f"session={TEST_COOKIE}"}

#: name -> value of everything the guard looks for.
SECRETS: dict[str, str] = {
    "TEST_PASSWORD": TEST_PASSWORD,
    "TEST_BEARER": TEST_BEARER,
    "TEST_COOKIE": TEST_COOKIE,
    "TEST_BASIC_B64": TEST_BASIC_B64,
    "PRIVATE_KEY_MARKER": PRIVATE_KEY_MARKER,
}
