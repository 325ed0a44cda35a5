"""The subscriber link endpoint: signed tokens (``tokens``), the links a digest carries
(``links``) and the Starlette app that answers them (``app``)."""
