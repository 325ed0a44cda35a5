"""Mail: render a Digest with Jinja2 (``render``, with ``latex`` for readable TeX and ``cards``
for the paper parts rendered once a run), build the MIME message and its bytes (``compose``),
and hand it to an outbox (``deliver``: SMTP pool or .eml files). ``sample`` is the built-in
digest for ``digest test-email``.

Everything but ``deliver`` is pure and never imports the store, fetching or delivery.
"""
