"""A discarding aiosmtpd sink for benchmarks: prints its port, counts accepted messages,
prints the count when stdin closes (then, on a second line, the times of the first and last
accepted message). With --delay SECONDS it answers EHLO, MAIL, RCPT and the end of DATA
that much later, like a relay across a network."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from aiosmtpd.smtp import SMTP, Envelope, Session


class Count:
    def __init__(self, delay: float) -> None:
        self.n = 0
        self.delay = delay
        self.first = 0.0
        self.last = 0.0

    async def _wait(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        await self._wait()
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await self._wait()
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await self._wait()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self._wait()
        self.n += 1
        self.last = time.time()
        self.first = self.first or self.last
        return "250 2.0.0 ok"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    handler = Count(args.delay)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="sink"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    print(handler.n, flush=True)
    print(f"{handler.first} {handler.last}", flush=True)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
