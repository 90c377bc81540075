"""The run directory on disk: atomic writes, the writer's lock, safe names, and reading run
files back with an error that names the file and what is wrong.

Nothing here knows about GANs; every command that writes or reads a run goes through it.

- Atomic writes: a temporary name in the same directory, then a rename, so a reader (or a
  run killed midway) sees the old file or the new one, never half of one. The file's mode
  follows the umask, as a plain open() would (mkstemp alone would leave 0600).
- The lock: an advisory `fcntl.flock` on RUN_DIR/.lock, held for as long as a process
  trains, resumes or overwrites the run. A second writer is refused at once, with the
  holder's pid and command. The kernel releases the lock when its holder dies (SIGKILL
  included), so a stale .lock file never blocks anybody; a clean release removes it.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import stat
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

LOCK_FILE = ".lock"

# What a run directory holds (each command's module doc says what is in each file). The
# names live here, below everything that writes or reads them: run.py knows the figures'
# names without importing matplotlib, and the figures know the run's without the trainer.
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "checkpoint.npz", "snapshots.npz")
SAMPLES_FILE = "samples.npz"
# Not every run has every figure: see toygan.plot.
PLOT_FILES = ("samples.png", "snapshots.png", "discriminator.png", "curves.png",
              "mode_mass.png", "coverage.png")
GIF_FILE = "training.gif"
POPULATION_FILES = ("config.json", "members.json", "members.jsonl", "population.json",
                    "population.npz")
POPULATION_PLOT_FILES = ("population_modes.png", "population_members.png",
                         "population_collapse.png")
THUMBNAIL_SAMPLES = 500  # G samples per member kept in population.npz


class RunFileError(ValueError):
    """A run file that is missing, unreadable, corrupt or not what it should hold."""


class RunLockedError(RuntimeError):
    """Another live process is writing this run directory."""


# ------------------------------------------------------------------ writes
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same directory, then rename into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_save_figure(fig, path: Path, **savefig_kwargs) -> Path:
    """A matplotlib figure written as one file, atomically (format from the suffix)."""
    buffer = io.BytesIO()
    fmt = Path(path).suffix.lstrip(".") or "png"
    fig.savefig(buffer, format=fmt, **savefig_kwargs)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


# ------------------------------------------------------------------ names
_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def safe_name(text: str, default: str = "run", limit: int = 80) -> str:
    """A name from data (a mixture's name, a cell) made a plain file name: no separators,
    no leading dot, no '..', at most `limit` characters; `default` when nothing is left."""
    name = _UNSAFE.sub("_", str(text)).strip("._-")
    name = re.sub(r"\.{2,}", ".", name)[:limit].strip("._-")
    return name or default


# ------------------------------------------------------------------ reads
MAX_TEXT_BYTES = 1 << 30  # a run's JSON files are kilobytes to megabytes


def read_text_file(path: Path, limit: int = MAX_TEXT_BYTES) -> str:
    """The text of a regular file of at most `limit` bytes (not a device such as /dev/zero,
    a FIFO or a directory, which a plain read would hang on or fill memory with)."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise RunFileError(f"{path} is missing") from None
    except OSError as err:
        raise RunFileError(f"{path} cannot be read ({_reason(err)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise RunFileError(f"{path} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise RunFileError(f"{path} is not a regular file")
    if info.st_size > limit:
        raise RunFileError(f"{path} is {info.st_size:,} bytes, more than a toygan file holds "
                           f"({limit:,})")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise RunFileError(f"{path} cannot be read ({_reason(err)})") from None
def read_json(path: Path, what: str = "a JSON object") -> dict:
    """A JSON object from a run file; RunFileError names the file and the problem."""
    path = Path(path)
    text = read_text_file(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RunFileError(f"{path} is not valid JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise RunFileError(f"{path} is JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise RunFileError(f"{path} should hold {what}, not a JSON {type(data).__name__}")
    return data


def read_jsonl(path: Path, required: tuple[str, ...] = ("step",)) -> list[dict]:
    """The records of a JSON-lines run file (metrics.jsonl, members.jsonl). Lines are
    written whole (the file is replaced atomically), so any bad line means corruption:
    RunFileError names the file, the line and what is wrong."""
    path = Path(path)
    text = read_text_file(path)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except RecursionError:
            raise RunFileError(f"{path} line {number} is JSON nested too deeply") from None
        except json.JSONDecodeError as err:
            raise RunFileError(f"{path} line {number} is not valid JSON ({err.msg}): "
                               "the file is corrupt") from None
        if not isinstance(record, dict):
            raise RunFileError(f"{path} line {number} is not a JSON object")
        missing = [k for k in required if k not in record]
        if missing:
            raise RunFileError(f"{path} line {number} lacks {missing[0]!r}")
        if "step" in required and (not isinstance(record["step"], int)
                                   or isinstance(record["step"], bool) or record["step"] < 0):
            raise RunFileError(f"{path} line {number}: step {record['step']!r} is not a "
                               "step number")
        records.append(record)
    if not text.endswith("\n") and text:
        raise RunFileError(f"{path} ends in a partial line: the file is corrupt")
    return records


def load_npz(path: Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Every array of an .npz run file (no pickles); RunFileError when it is missing, not
    an npz archive, truncated, or lacks a required array."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            zipped = zipfile.is_zipfile(f)
    except IsADirectoryError:
        raise RunFileError(f"{path} is a directory, not a file") from None
    except OSError:
        zipped = True  # missing or unreadable: np.load below says which
    if not zipped:  # NumPy would take it for a pickle and say that instead
        raise RunFileError(f"{path} is not an .npz archive (not a zip file): the file is "
                           "corrupt")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise RunFileError(f"{path} is missing") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise RunFileError(f"{path} is not a readable .npz archive ({_reason(err)})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise RunFileError(f"{path} lacks the array {missing[0]!r}")
    return arrays


def _reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return text.splitlines()[0][:200]


# ------------------------------------------------------------------ the lock
class RunLock:
    """An exclusive advisory lock on a run directory (see the module doc).

    `with RunLock(run_dir):` creates run_dir (and its parents) if needed. Raises
    RunLockedError when another process holds it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        patience = time.monotonic() + 0.5
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                os.close(fd)
                if not holder and time.monotonic() < patience:
                    time.sleep(0.02)  # a brief probe (is_locked) or a holder starting up
                    continue
                raise RunLockedError(f"{self.run_dir} is in use by {holder or 'another process'}"
                                     "; wait for it to finish (or stop it) and try "
                                     "again") from None
            except BaseException:
                os.close(fd)
                raise
            # The holder before us unlinks the file when it lets go: if the name no longer
            # leads to the file we locked, lock the new one instead.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))
        os.pwrite(fd, f"pid {os.getpid()} ({command[:200]})".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Let go, and remove the lock file (no trace of the lock is left in the run)."""
        if self._fd is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                os.unlink(self.path)
        except FileNotFoundError:
            pass  # the directory was renamed or removed while we held it
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_locked(run_dir: Path) -> bool:
    """Whether a live process holds run_dir's lock (a sweep asks before it removes one)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we took
    return False


# ------------------------------------------------------------------ replacing a run
class SetAside:
    """--overwrite without loss: the old run's files move into RUN_DIR/.replaced-PID/ (a
    rename each), the new run writes beside them, and only once it has proved itself (its
    first checkpoint) are they deleted (`commit`). If it fails before that, `rollback`
    deletes what it wrote and puts the old files back. Call both under the RunLock."""

    def __init__(self, run_dir: Path, names) -> None:
        self.run_dir = Path(run_dir)
        self.names = [n for n in dict.fromkeys(names) if (self.run_dir / n).exists()]
        self.backup = self.run_dir / f".replaced-{os.getpid()}"
        self.done = not self.names
        if self.names:
            self.backup.mkdir()
            for name in self.names:
                os.replace(self.run_dir / name, self.backup / name)

    def commit(self) -> None:
        if not self.done:
            import shutil

            shutil.rmtree(self.backup, ignore_errors=True)
            self.done = True

    def rollback(self, written) -> None:
        """Delete the new run's files (`written`, names) and restore the old run's."""
        for name in dict.fromkeys(written):
            try:
                (self.run_dir / name).unlink()
            except FileNotFoundError:
                pass
        if not self.done:
            for name in self.names:
                os.replace(self.backup / name, self.run_dir / name)
            self.backup.rmdir()
            self.done = True


def missing_dirs(path: Path) -> list[Path]:
    """The directories mkdir(parents=True) would create for `path`, outermost first."""
    out = []
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        out.append(path)
        path = path.parent
    return out[::-1]


def remove_empty_dirs(dirs: list[Path]) -> None:
    """Remove the directories this process created (innermost first), where empty."""
    for d in reversed(dirs):
        try:
            d.rmdir()
        except OSError:
            return
