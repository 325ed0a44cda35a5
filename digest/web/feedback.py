""" "More like this" / "Less like this" pages: a GET shows the paper and one button (mail
scanners open every link), the POST records the click and offers undo and "forget my
feedback"; a bad token is the same plain 404 as everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from digest.errors import StoreError
from digest.web.tokens import LESS, MORE, verify

if TYPE_CHECKING:
    from digest.web.app import Pages

KINDS = {"m": (MORE, 1), "l": (LESS, -1)}


class FeedbackPages:
    """The feedback routes over the endpoint's pages (its store, secret, clock, prefix)."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def routes(self) -> list[BaseRoute]:
        """GET and POST for /m/TOKEN (more like this) and /l/TOKEN (less like this)."""
        out: list[BaseRoute] = []
        for kind in KINDS:
            out.append(Route(f"/{kind}/{{token}}", self.show, methods=["GET"]))
            out.append(Route(f"/{kind}/{{token}}", self.post, methods=["POST"]))
        return out

    def _subject(self, request: Request) -> tuple[str, str, int] | None:
        """(address, paper id, +1/-1) of a valid token, else None."""
        kind = request.url.path.rsplit("/", 2)[-2]
        if kind not in KINDS:
            return None
        purpose, value = KINDS[kind]
        p = self.pages
        subject = verify(p.secret, purpose, request.path_params["token"], now=p.clock())
        if subject is None or "\n" not in subject:
            return None
        email, paper_id = subject.split("\n", 1)
        return email, paper_id, value

    def _action(self, request: Request) -> str:
        """Where the page's forms post: this path, under the prefix either way."""
        path, prefix = request.url.path, self.pages.prefix
        return path if not prefix or path.startswith(prefix + "/") else prefix + path

    async def _title(self, paper_id: str) -> str | None:
        paper = await self.pages._call(lambda: self.pages.store().paper(paper_id))
        return paper.title if paper is not None else None

    async def show(self, request: Request) -> Response:
        """GET: the paper's title and one button; nothing is stored."""
        found = self._subject(request)
        if found is None:
            return self.pages.not_found()
        email, paper_id, value = found
        try:
            title = await self._title(paper_id)
        except StoreError:
            return self.pages.unavailable()
        if title is None:
            return self.pages.not_found()
        return self.pages.page(
            "feedback",
            title="More like this" if value > 0 else "Less like this",
            email=email,
            paper=title,
            value=value,
            done=None,
            action=self._action(request),
        )

    async def post(self, request: Request) -> Response:
        """POST: `action=record` stores the click (the latest wins), `undo` forgets it,
        `forget` forgets everything the address said about papers."""
        found = self._subject(request)
        if found is None:
            return self.pages.not_found()
        email, paper_id, value = found
        form = await self.pages.form(request)
        if isinstance(form, Response):
            return form
        action = (form.get("action") or [""])[0]
        store = self.pages.store
        now = self.pages.clock()
        try:
            title = await self._title(paper_id)
            if title is None:
                return self.pages.not_found()
            if action == "record":
                await self.pages._call(
                    lambda: store().record_feedback(email, paper_id, value, now=now)
                )
            elif action == "undo":
                await self.pages._call(lambda: store().undo_feedback(email, paper_id))
            elif action == "forget":
                await self.pages._call(lambda: store().forget_feedback(email))
            else:
                return self.pages.bad_request()
        except StoreError:
            return self.pages.unavailable()
        return self.pages.page(
            "feedback",
            title="Noted" if action == "record" else "Forgotten",
            email=email,
            paper=title,
            value=value,
            done=action,
            action=self._action(request),
        )
