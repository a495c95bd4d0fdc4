"""A throwaway single-node SLURM cluster for tests: munged, slurmctld and slurmd run as root with
every file (configuration, keys, sockets, state, spool, logs, pid files) under one temporary folder,
on ports of their own, so nothing global is touched and nothing is left running after ``stop()``.

The node is this machine: ``CPUs=<nproc>``, a little less memory than is available, and one GPU
declared as a generic resource (``Gres=gpu:1``, ``AutoDetect=off``) whose device file is a stand-in
(SLURM 22.05 drops a GPU without ``File=``; ``task/none`` binds no devices, so nothing opens it).
Jobs that ask for a GPU are scheduled and accounted as on a real GPU node (``gres/gpu=1`` in their
TRES with accounting, ``CUDA_VISIBLE_DEVICES`` set), and run on the CPU. Two partitions, ``cpu`` (the default) and
``gpu``, hold that node.

Accounting: with ``accounting="slurmdbd"`` (the default) the cluster also runs a private MariaDB
server and slurmdbd, so ``sacct`` answers as on a production cluster, GPUs included (``gres/gpu``
in AllocTRES and in the job completion log's Tres). With ``accounting="none"`` there is no database
(``AccountingStorageType=accounting_storage/none``,
``sacct`` answers "Slurm accounting storage is disabled"). Either way every finished job is written
to the job completion log (``JobCompType=jobcomp/filetxt``), which ``sacct --completion`` and
:meth:`SlurmCluster.completed_jobs` read.

Usage::

    with SlurmCluster.start_in(tmp_dir) as cluster:   # raises ClusterUnavailable(reason)
        subprocess.run(["sbatch", ...], env=cluster.env(os.environ))
        records = cluster.completed_jobs()

``ClusterUnavailable`` carries a reason fit for ``pytest.skip``: not root, packages missing and no
apt-get to install them, or a daemon that failed (with the tail of its log).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / "tools" / "install_system_deps.sh"

SLURM_PROGRAMS = ("slurmctld", "slurmd", "slurmstepd", "sbatch", "sinfo", "squeue", "scancel", "sacct", "srun")
MUNGE_PROGRAMS = ("munged",)
CLIENT_PROGRAMS = ("sbatch", "srun", "squeue", "sinfo", "scancel", "scontrol", "sacct", "sacctmgr", "sshare", "sstat")
DBD_PROGRAMS = ("slurmdbd", "mariadbd", "mariadb-install-db", "mariadb")


class ClusterUnavailable(RuntimeError):
    """SLURM cannot be started here; the message says why (fit for pytest.skip)."""


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"]))


def missing_programs(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if _which(name) is None]


def ensure_installed(with_accounting: bool) -> None:
    """SLURM and munge installed, or installed now with tools/install_system_deps.sh (root + apt-get)."""
    needed = SLURM_PROGRAMS + MUNGE_PROGRAMS + (DBD_PROGRAMS if with_accounting else ())
    missing = missing_programs(needed)
    if not missing:
        return
    if os.geteuid() != 0 or _which("apt-get") is None:
        raise ClusterUnavailable(
            f"SLURM test cluster: {', '.join(missing)} not installed and cannot install them here "
            f"({'not root' if os.geteuid() != 0 else 'no apt-get'}); run tools/install_system_deps.sh as root"
        )
    proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=1800)
    missing = missing_programs(needed)
    if proc.returncode != 0 or missing:
        raise ClusterUnavailable(
            f"SLURM test cluster: installing {', '.join(missing) or 'packages'} failed "
            f"(exit {proc.returncode}): {(proc.stdout + proc.stderr)[-1500:]}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def available_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise ClusterUnavailable("SLURM test cluster: cannot read MemAvailable from /proc/meminfo")


def tail(path: Path, n_chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-n_chars:]
    except OSError as error:
        return f"({path}: {error})"


def parse_jobcomp_line(line: str) -> dict[str, str]:
    """One jobcomp/filetxt record: space-separated ``Key=value`` fields (values have no spaces)."""
    record: dict[str, str] = {}
    for match in re.finditer(r"(\w+)=(\S*)", line):
        record[match.group(1)] = match.group(2)
    return record


@dataclass
class _Daemon:
    name: str
    proc: subprocess.Popen
    log: Path


@dataclass
class SlurmCluster:
    """A single-node cluster living in ``root``; see the module docstring."""

    root: Path
    accounting: str = "slurmdbd"  # or "none": no slurmdbd, no sacct
    cluster_name: str = "cellpipe"
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_mb: int = 0
    daemons: list[_Daemon] = field(default_factory=list)

    # ----------------------------------------------------------------------------- paths
    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def jobcomp_log(self) -> Path:
        return self.root / "log" / "jobcomp.txt"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def client_bin(self) -> Path:
        return self.root / "bin"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for SLURM clients (sbatch, sinfo, sacct, and snakemake that calls them).

        ``SLURM_CONF`` names this cluster's configuration, and :attr:`client_bin` comes first on
        ``PATH``: wrappers of the SLURM commands that set ``SLURM_CONF`` themselves, for the commands
        run with a cleaned environment (the SLURM job step plugin drops every ``SLURM_*`` variable
        before its ``srun``; on a real cluster srun reads /etc/slurm/slurm.conf instead).
        """
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = os.pathsep.join([str(self.client_bin), env.get("PATH", "")])
        # as in a login shell: the SLURM executor plugin reads $USER (KeyError without it)
        env.setdefault("USER", pwd.getpwuid(os.geteuid()).pw_name)
        return env

    # ----------------------------------------------------------------------------- start
    @classmethod
    def start_in(cls, root: Path, accounting: str = "slurmdbd", timeout: float = 90.0) -> SlurmCluster:
        if accounting not in ("slurmdbd", "none"):
            raise ValueError(f"accounting must be 'slurmdbd' or 'none', not {accounting!r}")
        if os.geteuid() != 0:
            raise ClusterUnavailable("SLURM test cluster: needs root (slurmd runs jobs as their user and must be root)")
        ensure_installed(with_accounting=accounting == "slurmdbd")
        cluster = cls(root=Path(root), accounting=accounting)
        try:
            cluster._start(timeout)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __enter__(self) -> SlurmCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self, timeout: float) -> None:
        for sub in ("etc", "munge", "state", "spool", "log", "run", "db"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.memory_mb = int(available_memory_mb() * 0.85)
        self._start_munged()
        ports = {"ctld": free_port(), "slurmd": free_port(), "dbd": free_port(), "db": free_port()}
        self._write_config(ports)
        self._write_client_wrappers()
        if self.accounting == "slurmdbd":
            self._start_database(ports["db"])
            self._start_slurmdbd(ports["dbd"], ports["db"])
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)], self.root / "log" / "slurmctld.log")
        self._wait_for(lambda: self._client(["scontrol", "ping"]).stdout.count("UP") > 0, timeout, "slurmctld")
        self._spawn(
            "slurmd", [_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.node], self.root / "log" / "slurmd.log"
        )
        self._wait_for(self._node_idle, timeout, "slurmd")

    def _spawn(self, name: str, argv: list, log: Path, env: Mapping[str, str] | None = None) -> _Daemon:
        out = open(self.root / "log" / f"{name}.stdout", "ab")
        proc = subprocess.Popen(
            [str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env if env is not None else self.env()), start_new_session=True,
        )
        out.close()
        daemon = _Daemon(name, proc, log)
        self.daemons.append(daemon)
        return daemon

    def _wait_for(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for daemon in self.daemons:
                if daemon.proc.poll() is not None:
                    raise ClusterUnavailable(self._failure(f"{daemon.name} exited with {daemon.proc.returncode}"))
            try:
                if ready():
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.5)
        raise ClusterUnavailable(self._failure(f"{what} not ready after {timeout:.0f} s"))

    def _failure(self, what: str) -> str:
        logs = []
        for daemon in self.daemons:
            for path in (daemon.log, self.root / "log" / f"{daemon.name}.stdout"):
                if path.exists() and path.stat().st_size:
                    logs.append(f"--- {path.name} ---\n{tail(path, 800)}")
        return f"SLURM test cluster could not start: {what}\n" + "\n".join(logs)

    def _start_munged(self) -> None:
        """A munged of our own: own key, socket, pid, seed and log files under root/munge."""
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            if _which("mungekey"):
                subprocess.run([_which("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
            else:
                key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        (self.root / "munge").chmod(0o711)  # clients need to reach the socket
        log = self.root / "munge" / "munged.log"
        self._spawn(
            "munged",
            [
                _which("munged"), "--foreground", "--force", f"--socket={self.munge_socket}", f"--key-file={key}",
                f"--log-file={log}", f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
            ],
            log,
        )
        self._wait_for(self.munge_socket.exists, 30, "munged")

    # ------------------------------------------------------------------- accounting (optional)
    def _start_database(self, port: int) -> None:
        datadir = self.root / "db" / "data"
        sock = self.root / "db" / "mysqld.sock"
        init = subprocess.run(
            [_which("mariadb-install-db"), "--no-defaults", "--user=root", f"--datadir={datadir}",
             "--auth-root-authentication-method=normal",
             "--skip-test-db"],
            capture_output=True, text=True,
        )
        if init.returncode != 0:
            raise ClusterUnavailable(f"SLURM test cluster: mariadb-install-db failed: {(init.stdout + init.stderr)[-1500:]}")
        log = self.root / "log" / "mariadb.log"
        self._spawn(
            "mariadbd",
            [_which("mariadbd"), "--no-defaults", "--user=root", f"--datadir={datadir}", f"--socket={sock}",
             "--bind-address=127.0.0.1", f"--port={port}", f"--pid-file={self.root / 'run' / 'mariadbd.pid'}",
             f"--log-error={log}", "--innodb-buffer-pool-size=64M", "--skip-name-resolve"],
            log,
        )
        client = _which("mariadb")

        def sql(statement: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([client, "--no-defaults", f"--socket={sock}", "-uroot", "-e", statement],
                                  capture_output=True, text=True)

        self._wait_for(lambda: sql("SELECT 1").returncode == 0, 60, "mariadbd")
        done = sql(
            "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';"
            "CREATE DATABASE IF NOT EXISTS slurm_acct_db;"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
        )
        if done.returncode != 0:
            raise ClusterUnavailable(f"SLURM test cluster: creating the accounting database failed: {done.stderr}")

    def _start_slurmdbd(self, dbd_port: int, db_port: int) -> None:
        conf = self.root / "etc" / "slurmdbd.conf"
        conf.write_text(
            "\n".join([
                "AuthType=auth/munge",
                f"AuthInfo=socket={self.munge_socket}",
                "DbdHost=localhost",
                "DbdAddr=127.0.0.1",
                f"DbdPort={dbd_port}",
                "SlurmUser=root",
                f"LogFile={self.root / 'log' / 'slurmdbd.log'}",
                f"PidFile={self.root / 'run' / 'slurmdbd.pid'}",
                "StorageType=accounting_storage/mysql",
                "StorageHost=127.0.0.1",
                f"StoragePort={db_port}",
                "StorageUser=slurm",
                "StoragePass=slurm",
                "StorageLoc=slurm_acct_db",
                "",
            ])
        )
        conf.chmod(0o600)
        self._spawn("slurmdbd", [_which("slurmdbd"), "-D"], self.root / "log" / "slurmdbd.log",
                    env=dict(self.env(), SLURM_CONF=str(self.conf)))
        # slurmdbd finds its file next to slurm.conf (SLURM_CONF's folder); wait until it listens
        self._wait_for(lambda: _port_open(dbd_port), 60, "slurmdbd")

    # ----------------------------------------------------------------------------- config
    def _write_config(self, ports: dict[str, int]) -> None:
        r = self.root
        accounting = (
            [
                "AccountingStorageType=accounting_storage/slurmdbd",
                "AccountingStorageHost=127.0.0.1",
                f"AccountingStoragePort={ports['dbd']}",
                f"AccountingStoragePass={self.munge_socket}",  # munge socket for slurmctld -> slurmdbd
                "AccountingStoreFlags=job_comment",  # sacct shows the plugin's --comment (rule, wildcards)
                # GPUs in the jobs' TRES (sacct AllocTRES, jobcomp Tres); slurmctld refuses it without slurmdbd
                "AccountingStorageTRES=gres/gpu",
                "JobAcctGatherType=jobacct_gather/linux",
                "JobAcctGatherFrequency=30",
            ]
            if self.accounting == "slurmdbd"
            else ["AccountingStorageType=accounting_storage/none", "JobAcctGatherType=jobacct_gather/none"]
        )
        lines = [
            f"ClusterName={self.cluster_name}",
            f"SlurmctldHost={self.node}(127.0.0.1)",  # this host's short name, reached on loopback
            f"SlurmctldPort={ports['ctld']}",
            f"SlurmdPort={ports['slurmd']}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "MpiDefault=none",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "GresTypes=gpu",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "MinJobAge=3600",
            "InactiveLimit=0",
            "KillWait=10",
            "SlurmctldTimeout=60",
            "SlurmdTimeout=120",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            f"PlugStackConfig={r / 'etc' / 'plugstack.conf'}",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp_log}",
            *accounting,
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} Gres=gpu:1 State=UNKNOWN",
            f"PartitionName=cpu Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            f"PartitionName=gpu Nodes={self.node} MaxTime=INFINITE State=UP",
            "",
        ]
        self.conf.write_text("\n".join(lines))
        # SLURM 22.05 drops a GPU without File= from the node ("Removing file-less GPU"), so the GPU
        # gets a stand-in character device (a link to /dev/null); task/none binds no devices, so
        # nothing ever opens it.
        (r / "dev").mkdir(exist_ok=True)
        if not (r / "dev" / "gpu0").is_symlink():
            (r / "dev" / "gpu0").symlink_to("/dev/null")
        (r / "etc" / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={self.node} Name=gpu Count=1 File={r / 'dev' / 'gpu0'}\n"
        )
        (r / "etc" / "cgroup.conf").write_text("CgroupPlugin=autodetect\n")
        (r / "etc" / "plugstack.conf").write_text("")

    # ----------------------------------------------------------------------------- queries
    def _write_client_wrappers(self) -> None:
        self.client_bin.mkdir(parents=True, exist_ok=True)
        for name in CLIENT_PROGRAMS:
            real = _which(name)
            if real is None:
                continue
            wrapper = self.client_bin / name
            wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{real}" "$@"\n')
            wrapper.chmod(0o755)

    def _client(self, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=timeout)

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A SLURM client command against this cluster."""
        return self._client(list(argv), timeout)

    def _node_idle(self) -> bool:
        states = self._client(["sinfo", "-h", "-N", "-o", "%N %T"]).stdout.split("\n")
        return any(line.split()[-1:] == ["idle"] for line in states if line.strip())

    def completed_jobs(self) -> list[dict[str, str]]:
        """Every record of the job completion log (jobcomp/filetxt), oldest first."""
        if not self.jobcomp_log.exists():
            return []
        return [parse_jobcomp_line(line) for line in self.jobcomp_log.read_text().splitlines() if line.strip()]

    def queue_empty(self) -> bool:
        return not self._client(["squeue", "-h", "-o", "%i"]).stdout.strip()

    # ----------------------------------------------------------------------------- stop
    def stop(self) -> None:
        """Cancel what is queued or running, then stop every daemon this cluster started."""
        if any(d.name == "slurmctld" and d.proc.poll() is None for d in self.daemons):
            try:
                self._client(["scancel", "--user", pwd.getpwuid(os.geteuid()).pw_name], timeout=30)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not self.queue_empty():
                    time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for daemon in reversed(self.daemons):
            _terminate(daemon.proc)
        self.daemons.clear()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _terminate(proc: subprocess.Popen, wait: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the daemon and anything it forked
    except ProcessLookupError:
        return
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)
