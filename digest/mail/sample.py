"""A small built-in digest for `digest test-email`: real-looking papers, no store needed."""

from __future__ import annotations

from datetime import date

from digest.models import Digest, Paper, Scored, Subscriber

SAMPLE_PAPERS = (
    Paper(
        id="arxiv:1803.03635",
        title="The Lottery Ticket Hypothesis: Finding Sparse, Trainable Neural Networks",
        link="https://arxiv.org/abs/1803.03635",
        authors=("Jonathan Frankle", "Michael Carbin"),
        abstract=(
            "Neural network pruning techniques can reduce the parameter counts of trained "
            "networks by over 90%, decreasing storage requirements and improving computational "
            "performance of inference without compromising accuracy."
        ),
        upvotes=42,
        github="https://github.com/google-research/lottery-ticket-hypothesis",
    ),
    Paper(
        id="arxiv:2307.08621",
        title="Retentive Network: A Successor to Transformer for Large Language Models",
        link="https://arxiv.org/abs/2307.08621",
        authors=("Yutao Sun", "Li Dong", "Shaohan Huang", "Shuming Ma"),
        abstract=(
            "We propose Retentive Network (RetNet) as a foundation architecture for large "
            "language models, achieving training parallelism, low-cost inference, and good "
            "performance."
        ),
    ),
)


def sample_digest(*, name: str, email: str, day: date) -> Digest:
    """A two-paper digest addressed to `email`, for checking SMTP settings and the look."""
    sub = Subscriber(name=name, email=email, keywords=("pruning", "language models"))
    items = (
        Scored(SAMPLE_PAPERS[0], 2.0, ("pruning",)),
        Scored(SAMPLE_PAPERS[1], 1.0, ("language models",)),
    )
    return Digest(subscriber=sub, day=day, papers=items, matched=2)
