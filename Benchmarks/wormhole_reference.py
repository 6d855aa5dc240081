#!/usr/bin/env python3
"""magic-wormhole as the reference of `cvpeer-bench share`.

Starts magic-wormhole's own mailbox server and transit relay on 127.0.0.1 (free ports, their
data in a temporary folder, both stopped at the end), then times `wormhole send` of a file to
`wormhole receive --accept-file -o DIR` with a fixed code: from starting both processes until the
receiver exits having written the file whole (start-up, PAKE and transit included). `direct`
lets both sides listen (direct TCP on loopback); `relayed` passes --no-listen to both, so the
only path is the transit relay. The received copy is compared with the original (not timed).

  wormhole_reference.py --probe                 {"version": ...} or {"skipped": why}
  wormhole_reference.py --file F --rounds N     {"direct": [s, ...], "relayed": [s, ...]}

The `wormhole` and `twist` commands are looked for next to this Python (the virtual environment
`./dev bench` makes), then on PATH.
"""
import argparse
import filecmp
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def tool(name):
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.access(beside, os.X_OK) else shutil.which(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def probe():
    missing = [n for n in ("wormhole", "twist") if tool(n) is None]
    if missing:
        return {"skipped": "magic-wormhole is not installed (%s not found); run ./dev bench with network access to PyPI" % ", ".join(missing)}
    try:
        from importlib.metadata import version
        return {"version": version("magic-wormhole"), "mailbox": version("magic-wormhole-mailbox-server"),
                "transit": version("magic-wormhole-transit-relay")}
    except Exception as error:  # the packages must import for the servers to run
        return {"skipped": "magic-wormhole packages incomplete: %s" % error}


def transfer(path, mailbox, relay, work, code, listen):
    out = tempfile.mkdtemp(dir=work)
    common = ["--relay-url", "ws://127.0.0.1:%d/v1" % mailbox, "--transit-helper", "tcp:127.0.0.1:%d" % relay]
    flag = [] if listen else ["--no-listen"]
    devnull = subprocess.DEVNULL
    start = time.monotonic()
    sender = subprocess.Popen([tool("wormhole")] + common + ["send", "--hide-progress", "--no-qr", "--code", code] + flag + [path],
                              stdout=devnull, stderr=devnull, stdin=devnull)
    receiver = subprocess.Popen([tool("wormhole")] + common + ["receive", "--hide-progress", "--accept-file", "-o", out] + flag + [code],
                                stdout=devnull, stderr=subprocess.PIPE, stdin=devnull)
    try:
        _, err = receiver.communicate(timeout=300)
        elapsed = time.monotonic() - start
        sender.wait(timeout=60)
    finally:
        for p in (sender, receiver):
            if p.poll() is None:
                p.kill()
                p.wait()
    received = os.path.join(out, os.path.basename(path))
    if receiver.returncode != 0 or not os.path.exists(received) or not filecmp.cmp(path, received, shallow=False):
        raise RuntimeError("wormhole receive failed (%s): %s" % (receiver.returncode, err.decode(errors="replace")[-300:]))
    shutil.rmtree(out)
    return elapsed


def run(path, rounds):
    work = tempfile.mkdtemp(prefix="cvpeer-bench-wormhole.")
    servers = []
    try:
        mailbox, relay = free_port(), free_port()
        log = open(os.path.join(work, "servers.log"), "wb")
        servers.append(subprocess.Popen(
            [tool("twist"), "wormhole-mailbox", "--port=tcp:%d:interface=127.0.0.1" % mailbox,
             "--channel-db=%s" % os.path.join(work, "mailbox.sqlite")], cwd=work, stdout=log, stderr=log))
        servers.append(subprocess.Popen(
            [tool("twist"), "transitrelay", "--port=tcp:%d:interface=127.0.0.1" % relay], cwd=work, stdout=log, stderr=log))
        if not (wait_listening(mailbox, servers[0]) and wait_listening(relay, servers[1])):
            raise RuntimeError("the mailbox server or transit relay did not start (see %s)" % log.name)
        result = {"direct": [], "relayed": []}
        for index in range(rounds):
            for mode in ("direct", "relayed"):
                code = "%d-bench-%s-%d" % (index + 1, mode, os.getpid())
                result[mode].append(transfer(path, mailbox, relay, work, code, listen=(mode == "direct")))
        return result
    finally:
        for p in servers:
            p.terminate()
        for p in servers:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--file")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe()))
        return
    try:
        print(json.dumps(run(args.file, args.rounds)))
    except Exception as error:
        print(json.dumps({"error": str(error)}))
        sys.exit(1)


if __name__ == "__main__":
    main()
