#!/usr/bin/env python3
"""relay: TCP forwarder for the power-cut campaign (scripts/powercut.sh).

    relay.py LISTEN_ADDRESS PORT [PORT ...]

Listens on LISTEN_ADDRESS:PORT for every PORT and forwards each connection to 127.0.0.1:PORT (the EC2 emulator,
which binds loopback only).  powercut.sh runs it inside the campaign's sealed network namespace, on the host side
of the tap that user-mode Linux's eth0 is plugged into, so the guest reaches the emulator at 10.254.254.1:PORT and
nothing anywhere else.  Prints "ready" once every port listens; exits on SIGTERM or when its parent goes away.
"""
import asyncio
import os
import signal
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def handler(port):
    async def handle(reader, writer):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, uw), pipe(ur, writer))
    return handle


async def main():
    addr = sys.argv[1]
    if addr.startswith("127.") or addr in ("0.0.0.0", "::", ""):
        sys.exit("relay.py: refusing to listen on %r" % addr)
    ports = [int(p) for p in sys.argv[2:]]
    servers = [await asyncio.start_server(handler(p), addr, p, reuse_address=True) for p in ports]
    print("ready", flush=True)
    parent = os.getppid()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    while not stop.is_set():
        if os.getppid() != parent:
            break
        try:
            await asyncio.wait_for(stop.wait(), 1)
        except asyncio.TimeoutError:
            pass
    for s in servers:
        s.close()


asyncio.run(main())
