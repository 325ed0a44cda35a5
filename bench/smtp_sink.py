"""A discarding aiosmtpd sink for benchmarks: prints its port, counts accepted messages,
prints the count when stdin closes."""

from __future__ import annotations

import asyncio
import sys

from aiosmtpd.smtp import SMTP, Envelope, Session


class Count:
    def __init__(self) -> None:
        self.n = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.n += 1
        return "250 2.0.0 ok"


async def main() -> None:
    handler = Count()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, hostname="sink"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    print(handler.n, flush=True)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
