"""Source types: one module each (``feed``, ``arxiv``, ``arxiv_api``, ``hf``) with its
settings class, endpoint and parser (bytes -> Listing), registered in ``registry``;
``base`` holds what they share and ``text`` the clean-up their parsers share.

Pure: parsers take bytes and return Papers; fetching is ``digest.fetch``'s job.
"""
