"""The commands that run processes until stopped: `complaints worker`, `complaints web`, `complaints mail-ingress`
and `complaints dev`.

This is where the processes are assembled: the worker (`worker.py`), the web form (`web.commands`), the mail
ingress (`complaints.mail_ingress`) and the embedded stack (`complaints.dev_stack`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from complaints.command import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    Failure,
    complaint_client,
    data_dir_of,
    database_url_of,
    emit,
    key_ring_of,
    read_settings,
    temporal_client,
)


async def cmd_worker(args: argparse.Namespace) -> int:
    from complaints.data_dir import links_to_stack_web, read_stack_file
    from worker import MetricsAddressError, run_worker, worker_runtime

    # Beside a running `complaints dev`: its data directory's link key, and its web form in the links.
    data_dir = data_dir_of(args)
    settings = read_settings().model_copy(update={"database_url": database_url_of(args), "data_dir": data_dir})
    running = read_stack_file(data_dir)
    settings = links_to_stack_web(settings, running.web if running else None)
    try:
        runtime = worker_runtime(settings)
    except MetricsAddressError as exc:
        raise Failure(str(exc), EXIT_UNAVAILABLE) from None
    client = await temporal_client(args, runtime)
    stop = asyncio.Event()
    with stop_on_signals(stop):
        await run_worker(settings, client, stop)
    return EXIT_OK


async def cmd_web(args: argparse.Namespace) -> int:
    from complaints.data_dir import read_stack_file
    from web.commands import run_web
    from web.settings import WebSettings

    database_url = database_url_of(args)
    client = await temporal_client(args)
    running = read_stack_file(data_dir_of(args))
    web_settings = WebSettings(data_dir=data_dir_of(args))  # beside a running stack: its link key and secret
    if running and running.temporal_ui:
        web_settings = web_settings.model_copy(update={"temporal_ui": running.temporal_ui})
    stop = asyncio.Event()
    with stop_on_signals(stop):
        try:
            await run_web(database_url, client, stop, host=args.host, port=args.port, web_settings=web_settings)
        except OSError as exc:
            raise Failure(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", EXIT_UNAVAILABLE) from None
    return EXIT_OK


async def cmd_mail_ingress(args: argparse.Namespace) -> int:
    from activities.attachments import AttachmentStore
    from activities.database import create_pool
    from complaints.data_dir import StackError
    from complaints.mail_ingress import IngressConfig, listen_address, mail_ingress

    settings = read_settings()
    try:
        host, port = listen_address(settings.mail_ingress_address)
    except ValueError as exc:
        raise Failure(f"configuration: {exc}") from None
    database_url = database_url_of(args)
    key_ring = key_ring_of(args)
    complaints = await complaint_client(args)
    # No connection at start: mail without files or a thread needs none, and the pool finds PostgreSQL once back.
    pool = await create_pool(database_url, min_size=0, max_size=4, connect_timeout=10)
    store = AttachmentStore(pool, key_ring, max_bytes=settings.attachment_max_bytes)
    stop = asyncio.Event()
    try:
        with stop_on_signals(stop):
            async with mail_ingress(complaints, pool, store, IngressConfig.from_settings(settings), host, port) as at:
                print(f"complaints mail-ingress listening on {at}", file=sys.stderr, flush=True)
                await stop.wait()
    except StackError as exc:
        raise Failure(str(exc), EXIT_UNAVAILABLE) from None
    finally:
        await pool.close()
    return EXIT_OK


async def cmd_dev(args: argparse.Namespace) -> int:
    from complaints.data_dir import StackError
    from complaints.dev_stack import dev_stack
    from starter.codec import EncryptionKeyError

    stop = asyncio.Event()
    started = time.monotonic()
    os.umask(0o077)  # everything the stack writes under its data directory is its owner's alone
    with stop_on_signals(stop):
        try:
            async with dev_stack(
                Path(args.data_dir) if args.data_dir else read_settings().data_dir,
                temporal_port=args.temporal_port,
                ui_port=args.ui_port,
                web_port=None if args.no_web else args.web_port,
                mail_port=args.mail_port,
                mail_ingress_port=args.mail_ingress_port,
                settings=read_settings(),
            ) as stack:
                info = stack.info
                emit(
                    {
                        "web": info.web,
                        "temporal_ui": info.temporal_ui,
                        "temporal_address": info.temporal_address or read_settings().temporal_address,
                        "database_url": info.database_url or "(DATABASE_URL)",
                        "data_dir": info.data_dir,
                        "metrics": info.metrics,
                        "mail_catcher": info.mail_catcher or "(COMPLAINTS_SMTP_HOST)",
                        "mail_ingress": info.mail_ingress,
                        "key_file": info.key_file or "(COMPLAINTS_ENCRYPTION_KEYS / COMPLAINTS_KEY_FILE)",
                    }
                )
                print(
                    f"complaints dev ready in {time.monotonic() - started:.1f}s; Ctrl-C stops everything "
                    f"(data is kept in {info.data_dir})",
                    file=sys.stderr,
                    flush=True,
                )
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({stopping, stack.worker}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if stack.worker.done() and not stop.is_set():
                    error = stack.worker.exception() if not stack.worker.cancelled() else None
                    raise Failure(f"the worker stopped: {error!r}", EXIT_UNAVAILABLE)
        except StackError as exc:
            raise Failure(str(exc), EXIT_UNAVAILABLE) from None
        except EncryptionKeyError as exc:
            raise Failure(f"encryption keys: {exc}") from None
    print("complaints dev stopped", file=sys.stderr, flush=True)
    return EXIT_OK


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C and SIGTERM set `stop` instead of tearing the loop down, so every piece gets to stop in order."""
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
