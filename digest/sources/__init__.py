"""Source types: one module each (``feed``, ``arxiv``, ``arxiv_api``, ``hf``) with its
settings class, endpoint and parser (bytes -> Listing), registered in ``registry``;
``base`` holds what they share, ``text`` the clean-up their parsers share, ``document``
how a fetched document is decoded and sized up before parsing, and ``jsonfeed`` the JSON
Feed reader the ``feed`` type uses for JSON documents.

Pure: parsers take bytes and return Papers; fetching is ``digest.fetch``'s job.
"""
