"""What a connection trusts.

``config`` (TLSConfig), ``trust`` (where CA anchors come from), ``context`` (the one place TLS
defaults are set), ``modes`` (the per-call ``tls=`` tokens), ``decision`` (what one request
trusts, for both front-ends), ``pins`` (pin syntax and pins files), ``x509`` and ``peer``
(reading the server's certificate), ``certinfo`` (describing one for ``securl check``).
"""
