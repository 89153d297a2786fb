"""The local registry: one directory per model version and a SQLite index over them.

    ROOT/index.sqlite              what lists, filters and resolves names
    ROOT/models/NAME/DIGEST/       the artifact's four files, never changed
    ROOT/staging/                  versions being written

A version is written in staging, moved into models/ with one rename, and only
then entered in the index, in one transaction. A process killed at any point
leaves at most an unindexed directory, which neither lists nor loads and which
the next write of that version adopts after checking it. SQLite's locking lets
several processes write at once.
"""

from __future__ import annotations

import builtins
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.core.errors import (
    AmbiguousReferenceError,
    IntegrityError,
    SchemaVersionError,
    StorageError,
    UnknownNameError,
    ZooError,
)
from zoo.core.paths import zoo_home
from zoo_registry import artifact, names
from zoo_registry.names import Reference

if TYPE_CHECKING:
    from zoo_registry.schema import Card, Config


REGISTRY_ENV = "ZOO_REGISTRY"
INDEX_FILE = "index.sqlite"
# 2: the column "mode" became "backend" (eager, fx, pt2e...).
SCHEMA_VERSION = 2
LOCK_TIMEOUT_S = 60.0
STALE_STAGING_S = 3600.0

# NAME@VERSION of each version this process added, so an interrupted command can say truthfully what it recorded.
RECORDED: list[str] = []

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL,
    arch TEXT NOT NULL,
    preset TEXT,
    method TEXT,
    engine TEXT,
    backend TEXT,
    dataset TEXT,
    top1 REAL,
    top5 REAL,
    size_bytes INTEGER,
    p50_ms REAL,
    created TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS versions_arch ON versions (arch);
CREATE INDEX IF NOT EXISTS versions_preset ON versions (preset);
CREATE INDEX IF NOT EXISTS versions_dataset ON versions (dataset);
CREATE INDEX IF NOT EXISTS versions_version ON versions (version);
"""


# Statements that bring an index of schema N (the key) to SCHEMA_VERSION, before SCHEMA's IF NOT EXISTS run.
MIGRATIONS = {
    1: ("ALTER TABLE versions RENAME COLUMN mode TO backend",),
}


@dataclass(frozen=True)
class Entry:
    """One indexed version: what `zoo list` shows without opening any file."""

    name: str
    version: str
    kind: str
    arch: str
    preset: str | None
    method: str | None
    engine: str | None
    backend: str | None
    dataset: str | None
    top1: float | None
    top5: float | None
    size_bytes: int | None
    p50_ms: float | None
    created: str
    latest: bool = False

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version[:12]}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


COLUMNS = [f.name for f in fields(Entry) if f.name != "latest"]


def default_root() -> Path:
    return Path(os.environ[REGISTRY_ENV]).expanduser() if os.environ.get(REGISTRY_ENV) else zoo_home() / "registry"


def entry_from_card(card: Card) -> Entry:
    """The index row of a version: the card's identity and headline figures."""
    metrics = card.metrics
    return Entry(
        name=card.name, version=card.version, kind=card.kind, arch=card.arch,
        preset=card.preset, method=card.method, engine=card.engine, backend=card.backend_name,
        dataset=card.dataset.name, top1=metrics.top1, top5=metrics.top5, size_bytes=metrics.size_bytes,
        p50_ms=metrics.latency.p50_ms if metrics.latency else None, created=card.created,
    )


class Registry:
    """A registry directory: one directory per model version under ``models/NAME/VERSION`` (the four artifact
    files) and a SQLite index of their cards (``index.sqlite``).

    Versions never change; a name's latest version is the one recorded last. Several processes may read and
    write at once (the index is written in transactions; a version directory is moved into place whole).
    ``zoo.Context.registry`` is the session's; ``Registry(path)`` opens any other.
    """

    def __init__(self, root: Path | str | None = None):
        """``root``: the registry directory (created on the first write); default ``ZOO_REGISTRY``, else
        ``$ZOO_HOME/registry``.

        Raises:
            StorageError: ``root`` is a file.
        """
        self.root = Path(root).expanduser() if root else default_root()
        if self.root.exists() and not self.root.is_dir():
            raise StorageError(f"{self.root} (the registry) is a file, not a directory: give a directory "
                               f"({REGISTRY_ENV}, --registry, Registry(path) or Context(registry=...))")

    # -- paths -------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.root / INDEX_FILE

    def directory(self, name: str, version: str) -> Path:
        return self.root / "models" / name / version

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    # -- index ---------------------------------------------------------------
    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection | None]:
        """The index, opened for reading (None when there is none yet) or in a write transaction.

        Raises:
            StorageError: the index is corrupt, locked by another process for LOCK_TIMEOUT_S, or not writable.
        """
        try:
            with self._open_index(write) as db:
                yield db
        except sqlite3.OperationalError as exc:
            raise self._index_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"registry index {self.index_path} is damaged ({exc}): run "
                               "`zoo reindex` to rebuild it from the model directories (the damaged file is kept "
                               "beside it)") from None

    def _index_error(self, exc: sqlite3.OperationalError) -> StorageError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StorageError(f"registry index {self.index_path} has been locked by another process for more "
                                f"than {LOCK_TIMEOUT_S:.0f} s: let it finish (or stop it), then run the command again")
        if "readonly" in text or "read-only" in text:
            return StorageError(f"registry index {self.index_path} is read-only: give yourself write access, or "
                                f"use another registry (--registry DIR)")
        if "unable to open" in text or "disk" in text or "full" in text:
            return StorageError(f"registry index {self.index_path} cannot be opened or written ({text}): check "
                                "that its directory exists, is writable and has free space")
        return StorageError(f"registry index {self.index_path}: {text}")

    @contextmanager
    def _open_index(self, write: bool) -> Iterator[sqlite3.Connection | None]:
        if not write and not self.index_path.exists():
            yield None
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.index_path, timeout=LOCK_TIMEOUT_S, isolation_level=None)) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(f"registry {self.root} was written by a newer zoo (index schema {version}); "
                               f"this zoo reads up to schema {SCHEMA_VERSION}: upgrade zoo")
            if not write and 0 < version < SCHEMA_VERSION:
                # An index an earlier zoo wrote: bring it up to date once, then read it.
                self._migrate(db)
                version = SCHEMA_VERSION
            if write:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if version < SCHEMA_VERSION:
                        # executescript would commit; statements one by one stay in this transaction.
                        for statement in [*MIGRATIONS.get(version, ()), *filter(str.strip, SCHEMA.split(";"))]:
                            db.execute(statement)
                        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    yield db
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            else:
                if version == 0 and any(self.root.glob("models/*/*")):
                    # An index emptied or replaced by an empty file, beside model directories: say so, rather than
                    # show an empty registry.
                    raise StorageError(f"registry index {self.index_path} is empty but {self.root / 'models'} holds "
                                       "versions: run `zoo reindex` to rebuild it from the model directories")
                yield db if version == SCHEMA_VERSION else None

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have done it
            if version < SCHEMA_VERSION:
                for statement in [*MIGRATIONS.get(version, ()), *filter(str.strip, SCHEMA.split(";"))]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _entries(self, where: str = "", params: tuple = ()) -> list[Entry]:
        # The newest row of a name is its latest version; one grouped pass finds them all.
        query = (f"SELECT {', '.join('versions.' + c for c in COLUMNS)}, versions.rowid = newest.top AS latest "
                 "FROM versions JOIN (SELECT name, MAX(rowid) AS top FROM versions GROUP BY name) AS newest "
                 f"ON newest.name = versions.name {where}")
        with self._connect() as db:
            if db is None:
                return []
            # Plain tuples in COLUMNS order: sqlite3.Row costs more than the query itself.
            return [Entry(*row[:-1], latest=bool(row[-1]))  # type: ignore[misc]  # COLUMNS ends before latest
                    for row in db.execute(query, params)]

    def list(self, *, name: str | None = None, arch: str | None = None, preset: str | None = None,
             dataset: str | None = None, latest_only: bool = False) -> list[Entry]:
        """The versions whose fields equal every filter given, by name, newest first within a name.

        Returns:
            ``Entry`` rows (name, version digest, kind, arch, preset, method, engine, backend, dataset, top1 and
            top5 in percent, size_bytes, p50_ms, created, latest); an empty list when there is no index yet.

        Raises:
            StorageError: the index is damaged (run ``zoo reindex``), locked for long, or unreadable.
        """
        clauses, params = [], []
        for column, value in (("name", name), ("arch", arch), ("preset", preset), ("dataset", dataset)):
            if value is not None:
                clauses.append(f"versions.{column} = ?")
                params.append(value)
        if latest_only:
            clauses.append("versions.rowid = newest.top")
        where = ("WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY versions.name, versions.rowid DESC"
        return self._entries(where, tuple(params))

    def names(self) -> builtins.list[str]:
        with self._connect() as db:
            return [] if db is None else [r[0] for r in db.execute("SELECT DISTINCT name FROM versions ORDER BY name")]

    def resolve(self, reference: str | Reference) -> Entry:
        """The version ``reference`` names: NAME for its latest, NAME@DIGEST for the one whose version digest
        starts with DIGEST (6 or more hex digits).

        Raises:
            BadReferenceError: not a valid NAME or NAME@DIGEST.
            UnknownNameError: no such name or version (with the closest names, or the versions of the name).
            AmbiguousReferenceError: the digest prefix matches more than one version.
        """
        ref = names.parse(reference) if isinstance(reference, str) else reference
        if ref.version is None:
            found = self._entries("WHERE versions.name = ? AND versions.rowid = newest.top", (ref.name,))
        else:
            # A range, not LIKE, so the (name, version) key serves the prefix: hex digits sort below 'g'.
            found = self._entries("WHERE versions.name = ? AND versions.version >= ? AND versions.version < ? "
                                  "ORDER BY versions.rowid DESC", (ref.name, ref.version, ref.version + "g"))
        if not found:
            if ref.version is not None and ref.name in self.names():
                versions = [e.version[:12] for e in self.list(name=ref.name)]
                raise UnknownNameError(f"version of '{ref.name}'", ref.version, versions)
            raise UnknownNameError("registry model", ref.name, self.names())
        if len(found) > 1:
            raise AmbiguousReferenceError(f"'{ref}' is ambiguous: it matches {', '.join(e.ref for e in found)}; give more digits")
        return found[0]

    # -- writing ---------------------------------------------------------------
    def check_writable(self) -> None:
        """Fail now, before a long job, if versions cannot be written here: make the registry's directories and
        write and remove one small file in staging.

        Raises:
            StorageError: naming the path and what to do (from the OSError, by ``zoo.core.errors.storage_error``).
        """
        from zoo.core.errors import storage_error

        try:
            self.staging.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.staging, prefix="probe-"):
                pass
        except OSError as exc:
            raise (storage_error(exc) or StorageError(f"{self.root}: cannot write the registry ({exc})")) from None

    def stage(self) -> Path:
        """A fresh directory to write a version into before it is added."""
        self.staging.mkdir(parents=True, exist_ok=True)
        self._sweep_staging()
        return Path(tempfile.mkdtemp(prefix="version-", dir=self.staging))

    def _sweep_staging(self) -> None:
        """Remove what killed writers left behind, once it is clearly abandoned."""
        cutoff = time.time() - STALE_STAGING_S
        for child in self.staging.iterdir():
            try:
                if child.stat().st_mtime < cutoff:
                    shutil.rmtree(child, ignore_errors=True)
            except FileNotFoundError:
                pass

    def write(self, files: Mapping[str, bytes]) -> Entry:
        """Add a version given as its artifact files (file name to bytes; see ``zoo_registry.artifact.render``);
        returns its entry. Writing a version the registry already holds adds nothing and returns it.

        Raises:
            IntegrityError: a file does not match its card's sha256 and size, or the card its version digest.
            SchemaVersionError: card.json or config.json was made by a newer zoo.
            StorageError: the registry cannot be written (disk full, read-only, permissions); nothing is left.
        """
        staged = self.stage()
        try:
            for file_name, data in files.items():
                _write_synced(staged / file_name, data)
            return self.add(staged)
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def add(self, staged: Path) -> Entry:
        """Move a complete, verified artifact directory into the registry and index it."""
        raw = artifact.read_json(staged / artifact.CARD_FILE)
        names.check_name(raw.get("name", ""))
        label = f"{raw['name']}@{str(raw.get('version'))[:12]}"
        _, card, _ = artifact.read_verified(staged, label)
        entry = entry_from_card(card)
        target = self.directory(entry.name, entry.version)
        target.parent.mkdir(parents=True, exist_ok=True)
        moved = False
        try:
            try:
                os.rename(staged, target)
                moved = True
                _fsync_directory(target.parent)
            except OSError:
                if not target.is_dir():
                    raise
                # Written before by us or a killed writer: adopt it only if it is intact.
                artifact.read_verified(target, label)
            with self._connect(write=True) as db:
                assert db is not None  # a write always opens (or creates) the index
                _insert(db, entry)
        except BaseException:
            # Ctrl-C or a failure between the move and the index commit: take back what this call moved, so
            # "nothing was written" stays true and `zoo reindex` cannot resurrect it.
            if moved and not self._indexed(entry):
                shutil.rmtree(target, ignore_errors=True)
            raise
        RECORDED.append(entry.ref)
        return self.resolve(names.Reference(entry.name, entry.version))

    def _indexed(self, entry: Entry) -> bool:
        try:
            with self._connect() as db:
                return db is not None and db.execute("SELECT 1 FROM versions WHERE name = ? AND version = ?",
                                                     (entry.name, entry.version)).fetchone() is not None
        except (ZooError, sqlite3.Error):
            return True  # cannot tell: leave the directory, which the next write of this version adopts

    def remove(self, reference: str) -> builtins.list[Entry]:
        """Remove one version (NAME@VERSION) or every version of a name (NAME)."""
        ref = names.parse(reference)
        doomed = [self.resolve(ref)] if ref.version else self.list(name=ref.name)
        if not doomed:
            raise UnknownNameError("registry model", ref.name, self.names())
        with self._connect(write=True) as db:
            assert db is not None  # a write always opens (or creates) the index
            db.executemany("DELETE FROM versions WHERE name = ? AND version = ?",
                           [(e.name, e.version) for e in doomed])
        for entry in doomed:
            # Out of the index first, so a half-deleted directory is never listed.
            directory = self.directory(entry.name, entry.version)
            if not directory.exists():
                continue  # removed by hand, or by an earlier `zoo rm` that was stopped: the index row was all left
            trash = self.stage()
            os.rename(directory, trash / "removed")
            shutil.rmtree(trash, ignore_errors=True)
        return doomed

    def reindex(self) -> tuple[builtins.list[Entry], builtins.list[str]]:
        """Rebuild the index from the version directories, oldest card first (so each name's latest stays latest).

        A damaged index is renamed aside (``index.sqlite.damaged-<time>``), never deleted. Returns the entries
        indexed and, for each directory left out, why (it failed verification).
        """
        cards: list[tuple[str, str, Card]] = []
        skipped: list[str] = []
        for directory in sorted(self.root.glob("models/*/*")):
            label = f"{directory.parent.name}@{directory.name[:12]}"
            try:
                _, card, _ = artifact.read_verified(directory, label)
                if card.name != directory.parent.name or card.version != directory.name:
                    raise IntegrityError(f"{directory} holds {card.name}@{card.version[:12]}")
            except ZooError as exc:
                skipped.append(f"{directory}: {exc}")
                continue
            cards.append((card.created, str(directory), card))
        if self.index_path.exists():
            os.rename(self.index_path, self.index_path.with_name(f"{INDEX_FILE}.damaged-{time.time_ns()}"))
        with self._connect(write=True) as db:
            assert db is not None  # a write always opens (or creates) the index
            for _, _, card in sorted(cards, key=lambda c: c[:2]):
                _insert(db, entry_from_card(card))
        return self.list(), skipped

    # -- reading -----------------------------------------------------------------
    def open(self, entry: Entry) -> tuple[Config, Card, bytes]:
        """(config, card, model bytes) of a version, after verifying every file's sha256.

        ``config`` is config.json (what rebuilds the module tree), ``card`` card.json (the figures: top-1/top-5
        in percent, sizes in bytes, latencies in ms with the CPU), both as their typed, read-only schemas
        (``zoo_registry.schema.Config`` and ``Card``; ``to_dict()`` gives the JSON), ``model bytes`` the
        safetensors file.

        Raises:
            IntegrityError: a file was altered or is missing since it was recorded.
            SchemaVersionError: made by a newer zoo.
        """
        directory = self.directory(entry.name, entry.version)
        config, card, model_bytes = artifact.read_verified(directory, entry.ref)
        if card.version != entry.version or card.name != entry.name:
            raise IntegrityError(f"{directory} holds {card.name}@{card.version[:12]}, not {entry.ref}")
        return config, card, model_bytes


def _insert(db: sqlite3.Connection, entry: Entry) -> None:
    db.execute(f"INSERT OR IGNORE INTO versions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
               [getattr(entry, c) for c in COLUMNS])


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
