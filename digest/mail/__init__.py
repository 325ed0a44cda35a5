"""Mail: render a Digest with Jinja2 (``render``, with ``latex`` for readable TeX), build the
MIME message (``compose``), and hand it to an outbox (``deliver``: SMTP pool or .eml files).
``sample`` is the built-in digest for ``digest test-email``.

``render`` and ``compose`` are pure and never import the store, fetching or delivery.
"""
