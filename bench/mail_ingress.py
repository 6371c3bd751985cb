"""Mail ingested per second through the mail ingress (SMTP) against complaints started per second through the
client SDK, same run, same concurrency (issue 13: goal at least 0.7).

    uv run python bench/mail_ingress.py [--count 60] [--senders 6] [--rounds 3]

One embedded stack (Temporal dev server, embedded PostgreSQL, the worker in this process); each round starts
`count` complaints through `ComplaintClient.start` from `senders` concurrent callers, and ingests `count` new mails
through the ingress from `senders` concurrent SMTP clients (smtplib, one connection each, as a mail server keeps
one open for a queue), the two back to back, their order alternating. The intakes are what the ingress makes of
the mail (same customer, subject and text), so the ratio is the ingress's own cost: SMTP, parsing, routing.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activities.attachments import AttachmentStore  # noqa: E402
from bench.stack import embedded_stack  # noqa: E402
from complaints.mail_ingress import IngressConfig, mail_ingress  # noqa: E402
from domain.mail_in import complaint_id_for  # noqa: E402
from starter.client import ComplaintClient  # noqa: E402
from worker import build_worker  # noqa: E402

NAME = "Nguyễn Văn An"
ADDRESS = "an@example.vn"
SUBJECT = "VPS mất kết nối"
TEXT = "VPS của tôi không truy cập được từ 8 giờ sáng nay. Đề nghị kiểm tra gấp."


def mail(message_id: str) -> bytes:
    message = EmailMessage()
    message["From"] = str(Address(NAME, addr_spec=ADDRESS))
    message["To"] = "cskh@example.vn"
    message["Subject"] = SUBJECT
    message["Message-ID"] = message_id
    message.set_content(TEXT)
    return message.as_bytes().replace(b"\n", b"\r\n")


def intake(complaint_id: str, message_id: str) -> dict[str, Any]:
    """What the ingress starts for `mail(message_id)`: the baseline does the same work without SMTP."""
    return {
        "customer": {"name": NAME, "email": ADDRESS},
        "channel": "email",
        "subject": SUBJECT,
        "description": TEXT,
        "received_at": datetime.now(UTC).isoformat(),
        "complaint_id": complaint_id,
        "message_id": message_id,
    }


def send_batch(host: str, port: int, messages: list[bytes]) -> None:
    """One SMTP client: one connection, its messages one after the other, each answered 250."""
    with smtplib.SMTP(host, port, timeout=120) as smtp:
        for raw in messages:
            refused = smtp.sendmail(ADDRESS, ["cskh@example.vn"], raw)
            assert not refused


async def per_second(work: Callable[[], Awaitable[None]], count: int) -> float:
    started = time.perf_counter()
    await work()
    return count / (time.perf_counter() - started)


async def sdk_rate(complaints: ComplaintClient, count: int, senders: int) -> float:
    ids = [f"<{uuid.uuid4().hex}@bench.example.vn>" for _ in range(count)]
    shares = [ids[i::senders] for i in range(senders)]

    async def caller(share: list[str]) -> None:
        for message_id in share:
            await complaints.start(intake(complaint_id_for(message_id), message_id))

    async def run() -> None:
        await asyncio.gather(*(caller(share) for share in shares))

    return await per_second(run, count)


async def ingress_rate(host: str, port: int, count: int, senders: int) -> float:
    messages = [mail(f"<{uuid.uuid4().hex}@bench.example.vn>") for _ in range(count)]
    shares = [messages[i::senders] for i in range(senders)]
    loop = asyncio.get_running_loop()

    async def run() -> None:
        # The SMTP clients' own threads: in the loop's default executor they would take what the stack needs.
        with ThreadPoolExecutor(senders, thread_name_prefix="smtp-client") as clients:
            await asyncio.gather(*(loop.run_in_executor(clients, send_batch, host, port, share) for share in shares))

    return await per_second(run, count)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=60, help="complaints per side per round (default 60)")
    parser.add_argument("--senders", type=int, default=6, help="concurrent callers / SMTP clients (default 6)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        async with embedded_stack(Path(tmp)) as run, AsyncExitStack() as stack:
            await stack.enter_async_context(build_worker(run.client, run.records, run.settings))
            complaints = run.complaints
            config = IngressConfig(rate_per_minute=1e6, burst=1_000_000, timeout=120)
            store = AttachmentStore(run.pool, run.key_ring)
            at = await stack.enter_async_context(mail_ingress(complaints, run.pool, store, config, port=0))
            host, _, port = at.rpartition(":")

            await sdk_rate(complaints, args.senders * 2, args.senders)  # warm both paths
            await ingress_rate(host, int(port), args.senders * 2, args.senders)
            ingress, sdk = [], []
            for round_ in range(args.rounds):
                if round_ % 2 == 0:
                    sdk.append(await sdk_rate(complaints, args.count, args.senders))
                    ingress.append(await ingress_rate(host, int(port), args.count, args.senders))
                else:
                    ingress.append(await ingress_rate(host, int(port), args.count, args.senders))
                    sdk.append(await sdk_rate(complaints, args.count, args.senders))
                print(
                    f"round {round_ + 1}: ingress {ingress[-1]:.2f} mail/s, SDK {sdk[-1]:.2f} complaints/s,"
                    f" ratio {ingress[-1] / sdk[-1]:.2f}",
                    flush=True,
                )
    ratios = [i / s for i, s in zip(ingress, sdk, strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"mail ingested: {statistics.median(ingress):.2f} mail/s; started through the SDK:"
        f" {statistics.median(sdk):.2f} complaints/s; ratio {ratio:.2f} (median of per-round"
        f" {', '.join(f'{r:.2f}' for r in ratios)}; goal >= 0.7: {'met' if ratio >= 0.7 else 'NOT met'})"
    )


if __name__ == "__main__":
    asyncio.run(main())
