"""Ranking: text normalisation (``text``), what keywords mean (``keywords``), the paper and
keyword matrices (``index``), batch scoring (``score``), reasons shown in the email
(``reasons``), the entry points (``batch``) and the optional embedder (``semantic``).

Pure: nothing here imports the store, fetching or delivery. Import the submodules directly;
this package imports nothing so that ``digest.ranking.text`` stays light.
"""
