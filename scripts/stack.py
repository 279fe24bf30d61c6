"""The local stack: Azurite, the emulators and the dev host, started and stopped together.

`python -m scripts.stack run`   serves the app on the local stack until Ctrl-C (what `make run` does).
`python -m scripts.stack test`  starts a private Azurite on free ports, runs pytest, stops it (`make test`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite"
DEV_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented; not a secret).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class AzuriteExited(RuntimeError):
    """Azurite stopped before listening (a port taken, say); the text ends with what it said."""


@dataclass
class Azurite:
    """Azurite from node_modules, on loopback, with its data in a folder of its own."""

    location: Path
    blob_port: int = 0
    queue_port: int = 0
    table_port: int = 0
    # In memory for tests and benchmarks (several times faster); on disk for `make run`.
    in_memory: bool = True
    # Extra accounts (AZURITE_ACCOUNTS; all with the development key): one Azurite serves many isolated
    # test stacks, each on an account of its own, without a start per stack. Disables devstoreaccount1.
    accounts: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self, attempts: int = 3) -> Azurite:
        """Start on the given ports, or on free ones: a free port can be taken by another process before
        Azurite binds it (parallel test workers), so an early exit on chosen ports is retried on new ones."""
        chosen = not (self.blob_port or self.queue_port or self.table_port)
        for attempt in range(1, attempts + 1):
            try:
                return self._start()
            except AzuriteExited:
                if not chosen or attempt == attempts:
                    raise
                self.blob_port = self.queue_port = self.table_port = 0
        raise AssertionError("unreachable")

    def _start(self) -> Azurite:
        if not AZURITE_BIN.exists():
            raise RuntimeError("Azurite is not installed: run `npm ci` (make does this for you)")
        self.blob_port = self.blob_port or free_port()
        self.queue_port = self.queue_port or free_port()
        self.table_port = self.table_port or free_port()
        self.location.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                str(AZURITE_BIN),
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableProductStyleUrl",
                *(["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.location)]),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.blob_port),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(self.queue_port),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(self.table_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=dict(os.environ, AZURITE_ACCOUNTS=";".join(f"{a}:{DEV_KEY}" for a in self.accounts))
            if self.accounts
            else None,
        )
        try:
            for port in (self.blob_port, self.queue_port, self.table_port):
                wait_for_port(port, 30, self.proc)
        except RuntimeError as exc:
            if self.proc.poll() is None:
                stop_process(self.proc, timeout=1)
                raise
            said = self.proc.stderr.read().decode(errors="replace")[-500:] if self.proc.stderr else ""
            raise AzuriteExited(f"{exc}: {said.strip() or 'no output'}") from None
        return self

    @property
    def connection_string(self) -> str:
        return self.connection_string_for(DEV_ACCOUNT)

    def connection_string_for(self, account: str) -> str:
        base = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={DEV_KEY};"
            f"BlobEndpoint={base}:{self.blob_port}/{account};"
            f"QueueEndpoint={base}:{self.queue_port}/{account};"
            f"TableEndpoint={base}:{self.table_port}/{account};"
        )

    def stop(self) -> None:
        if self.in_memory:
            stop_process(self.proc, timeout=1)  # nothing to persist: no need to wait for a clean close
        else:
            stop_process(
                self.proc, timeout=20, sig=signal.SIGINT
            )  # flushes its files on SIGINT (takes ~12 s)
        self.proc = None


def stop_process(
    proc: subprocess.Popen[bytes] | None, timeout: float = 10, sig: signal.Signals = signal.SIGTERM
) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def azurite_running(
    location: Path | None = None, in_memory: bool = True, accounts: tuple[str, ...] = ()
) -> Iterator[Azurite]:
    tmp = None
    if location is None:
        (ROOT / ".localstack").mkdir(exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="azurite-", dir=ROOT / ".localstack")
        location = Path(tmp)
    azurite = Azurite(location, in_memory=in_memory, accounts=accounts).start()
    try:
        yield azurite
    finally:
        azurite.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def start_devhost(env: dict[str, str], port: int, settings: Path | None = None) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "devhost", "--app", str(ROOT / "function_app.py"), "--port", str(port)]
    if settings is not None:
        args += ["--settings", str(settings)]
    return subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)


def cmd_test(pytest_args: Sequence[str]) -> int:
    (ROOT / ".localstack").mkdir(exist_ok=True)
    with azurite_running() as azurite:
        env = dict(os.environ, AzureWebJobsStorage=azurite.connection_string)
        print(f"stack: Azurite on queue :{azurite.queue_port} table :{azurite.table_port}", flush=True)
        return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=env)


GRAPH_PORT, GRAPH_TOKEN_PORT, IBSS_PORT = 7201, 7202, 7301


def _python(module: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_run(port: int) -> int:
    # SIGTERM/SIGHUP stop the stack as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    settings = ROOT / "local.settings.json"
    if not settings.exists():
        shutil.copy(ROOT / "local.settings.sample.json", settings)
        print("stack: created local.settings.json from local.settings.sample.json", flush=True)
    values: dict[str, str] = json.loads(settings.read_text()).get("Values", {})
    sample: dict[str, str] = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    missing = sorted(set(sample) - set(values))
    if missing:
        # A local.settings.json from an older checkout: settings added since take the sample's values.
        print(f"stack: local.settings.json lacks {', '.join(missing)}: using the sample's values", flush=True)
        values = {**{k: sample[k] for k in missing}, **values}
    added = {k: sample[k] for k in missing if k not in os.environ}
    location = ROOT / ".localstack" / "azurite"
    cert_dir = ROOT / ".localstack" / "graph-emulator"
    procs: list[subprocess.Popen[bytes]] = []
    with azurite_running(location, in_memory=False) as azurite:
        # The emulators stand in for Graph and IBSS; the app reaches them exactly as it would the real ones.
        env = dict(
            os.environ,
            **added,
            AzureWebJobsStorage=azurite.connection_string,
            GRAPH_BASE_URL=f"http://127.0.0.1:{GRAPH_PORT}/v1.0",
            GRAPH_AUTHORITY=f"https://localhost:{GRAPH_TOKEN_PORT}",
            GRAPH_CA_BUNDLE=str(cert_dir / "graph-emulator-ca.pem"),
            IBSS_BASE_URL=f"http://127.0.0.1:{IBSS_PORT}",
        )
        try:
            graph = _python(
                "emulators.graph",
                "--port",
                str(GRAPH_PORT),
                "--token-port",
                str(GRAPH_TOKEN_PORT),
                "--tenant",
                str(ROOT / "emulators" / "graph" / "tenants" / "demo.yaml"),
                "--cert-dir",
                str(cert_dir),
            )
            ibss = _python(
                "emulators.ibss",
                "--port",
                str(IBSS_PORT),
                "--api-key",
                values.get("IBSS_API_KEY", ""),
                "--hook-url",
                f"http://127.0.0.1:{port}/api/ibss/hooks",
                "--hook-secret",
                values.get("IBSS_HOOK_SECRET", ""),
            )
            procs += [graph, ibss]
            wait_for_port(GRAPH_PORT, 60, graph)
            wait_for_port(IBSS_PORT, 60, ibss)
            host = start_devhost(env, port, settings)
            procs.append(host)
            wait_for_port(port, 60, host)
            print(
                "\nLocal stack is up:\n"
                f"  Azurite         blob :{azurite.blob_port}  queue :{azurite.queue_port}"
                f"  table :{azurite.table_port}  (data in {location.relative_to(ROOT)})\n"
                f"  Graph emulator  http://127.0.0.1:{GRAPH_PORT}/v1.0  (control: /_emulator/,"
                f" token: https://localhost:{GRAPH_TOKEN_PORT})\n"
                f"  IBSS emulator   http://127.0.0.1:{IBSS_PORT}/v2  (control: /_emulator/)\n"
                f"  Function app    http://127.0.0.1:{port}/api/health\n"
                f"                  http://127.0.0.1:{port}/api/graph/notifications\n"
                f"                  http://127.0.0.1:{port}/api/graph/lifecycle\n"
                f"                  http://127.0.0.1:{port}/api/ibss/hooks\n"
                "Press Ctrl-C to stop everything.\n",
                flush=True,
            )
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            print("stack: a component exited; stopping the rest", flush=True)
            return 1
        except KeyboardInterrupt:
            print("\nstack: stopping", flush=True)
            return 0
        finally:
            for p in reversed(procs):
                stop_process(p)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the service on the local stack until Ctrl-C")
    run.add_argument("--port", type=int, default=7071)
    test = sub.add_parser("test", help="run pytest against a private Azurite")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args, unknown = parser.parse_known_args(argv)
    if args.command == "run":
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return cmd_run(args.port)
    return cmd_test([*unknown, *args.pytest_args])


if __name__ == "__main__":
    raise SystemExit(main())
