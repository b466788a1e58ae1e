"""Moving bytes over connections whose trust ``securl.tls`` decided.

``target`` (checked URLs, methods, headers), ``head`` (the strict response-head reader),
``connection`` and ``pool`` (urllib3 classes that run the trust checks; pools keyed by the
whole decision), ``deadline`` (timeouts), ``transport`` (one exchange), ``redirects``,
``errors``, ``auth``, ``response``, ``session`` and ``api`` (the module functions).

Importing it loads nothing: ``import securl`` must stay free of urllib3.
"""
