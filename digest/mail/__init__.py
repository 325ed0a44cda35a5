"""Mail: render a Digest with Jinja2 (``render``, with ``latex`` for readable TeX and ``cards``
for the paper parts rendered and CSS-inlined once a run), build the MIME message (``compose``)
or the same message as bytes in one pass, in DATA's wire form (``wire``, with ``subject`` for
its RFC 2047 words), and hand it to an outbox (``deliver``: SMTP pool or .eml files, sending
through ``transact``, which puts such bytes on the wire without aiosmtplib rewriting them).
``sample`` is the built-in digest for ``digest test-email``.

Everything but ``deliver`` and ``transact`` is pure and never imports the store, fetching or
delivery.
"""
