"""Moving bytes over connections whose trust ``securl.tls`` decided.

``target`` (checked URLs, methods, headers; the allowed schemes), ``head`` (the strict
response-head reader), ``connection`` and ``pool`` (urllib3 classes that run the trust checks;
pools keyed by the whole decision), ``timeouts`` and ``deadline``, ``transport`` (one
exchange, for both front-ends), ``redirects`` (the redirect rule), ``errors`` (mapping
low-level errors), ``challenges``, ``auth`` and ``authflow`` (what a server asks for, the
answers, and when they are sent), ``response``, ``session`` and ``api`` (the module functions).

Importing it loads nothing: ``import securl`` must stay free of urllib3.
"""
