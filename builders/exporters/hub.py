"""Push an export folder to ONE Hugging Face dataset repo, one commit per push.

What lands in the repo is the export's own layout::

    README.md                                     YAML configs + dataset_info + card (every config in the repo)
    <config>/<split>-0000N-of-0000M.parquet       the export's shards, unchanged
    .nuclei_collection/<config>.json              build report (re-renders the card on later pushes)
    previews/<config>.png                         overlay preview shown in the card

Guarantees:

* **One commit per push** (none when nothing changed), created with ``parent_commit`` set
  to the head that was compared against, so a concurrent push makes this one fail
  instead of silently mixing the two.
* **Idempotent**: a file whose content is already in the repo (same LFS sha256, or the
  same git blob id for small files) is not uploaded again; remote files that belong to a
  pushed config but are not part of its new export (old shards, a split that is gone)
  are deleted in the same commit, so no duplicate or orphan shard survives.
* **Resumable**: changed files are uploaded with ``preupload_lfs_files`` before the
  single ``create_commit``. If the push is interrupted, the objects already uploaded stay
  on the Hub's storage and the next run does not send them again.
* **Any subset of configs**: configs not pushed this time keep their files, and the
  README still lists every config present in the repo (their reports are read back from
  ``.nuclei_collection/``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.errors import HTTPError as HubTransportError

from ..base import NucleiCollectionError, logger
from .build import PREVIEW_DIR, REPORT_DIR, load_reports
from .card import render_readme
from .shards import count_rows

REPO_TYPE = "dataset"
_HASH_CHUNK = 8 * 2**20


class HubError(NucleiCollectionError):
    """The Hub could not be reached, or refused a request; the message names the endpoint."""


@contextmanager
def hub_errors(api: HfApi, repo_id: str) -> Iterator[None]:
    """Turn the Hub client's errors into one-line :class:`HubError` s naming the endpoint.

    Caught by the client's own classes: ``HfHubHTTPError`` (an answer: auth, permission,
    missing repo, conflict), the HTTP library's base ``HTTPError`` that huggingface_hub
    re-exports in ``huggingface_hub.errors`` (connection refused, DNS, timeout, TLS: not an
    OSError with the installed client) and ``OfflineModeIsEnabled`` (HF_HUB_OFFLINE=1).
    """
    endpoint = getattr(api, "endpoint", None) or constants.ENDPOINT
    try:
        yield
    except HfHubHTTPError as error:
        reason = " ".join(str(error).split())  # the Hub's message (request id, hint) on one line
        raise HubError(f"{repo_id}: the Hub at {endpoint} refused the request: {reason}") from error
    except OfflineModeIsEnabled as error:
        raise HubError(f"{repo_id}: cannot push to {endpoint}: offline mode is on (unset HF_HUB_OFFLINE)") from error
    except HubTransportError as error:
        reason = " ".join(str(error).split()) or "no answer"
        raise HubError(
            f"{repo_id}: cannot reach the Hub at {endpoint} ({type(error).__name__}: {reason}); "
            "check the network, or HF_ENDPOINT if you set it"
        ) from error


@dataclass(frozen=True)
class PushFile:
    """One file to be in the repo: where it goes and its content (a local path or bytes)."""

    path_in_repo: str
    content: Path | bytes
    sha256: str
    size: int

    @classmethod
    def from_path(cls, path_in_repo: str, path: Path) -> PushFile:
        digest = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(_HASH_CHUNK):
                digest.update(chunk)
        return cls(path_in_repo, path, digest.hexdigest(), path.stat().st_size)

    @classmethod
    def from_bytes(cls, path_in_repo: str, data: bytes) -> PushFile:
        return cls(path_in_repo, data, hashlib.sha256(data).hexdigest(), len(data))

    def read_bytes(self) -> bytes:
        return self.content if isinstance(self.content, bytes) else self.content.read_bytes()

    def git_blob_id(self) -> str:
        """The git object id of this content stored as a regular (non-LFS) file."""
        data = self.read_bytes()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def operation(self) -> CommitOperationAdd:
        content = self.content if isinstance(self.content, bytes) else str(self.content)
        return CommitOperationAdd(path_in_repo=self.path_in_repo, path_or_fileobj=content)


@dataclass
class PushPlan:
    """What a push will do; :func:`plan_push` computes it without changing anything."""

    repo_id: str
    revision: str | None
    configs: list[str]
    #: every config the README describes (pushed + already in the repo)
    readme_configs: list[str]
    uploads: list[PushFile] = field(default_factory=list)
    unchanged: list[PushFile] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    parent_commit: str | None = None

    @property
    def upload_bytes(self) -> int:
        return sum(f.size for f in self.uploads)

    @property
    def is_empty(self) -> bool:
        return not self.uploads and not self.deletions

    def summary(self) -> str:
        return (
            f"{self.repo_id}: {len(self.uploads)} file(s) to upload ({self.upload_bytes / 2**20:.1f} MiB), "
            f"{len(self.deletions)} to delete, {len(self.unchanged)} unchanged; "
            f"configs pushed: {', '.join(self.configs)}; README lists {len(self.readme_configs)} config(s)"
        )


@dataclass
class PushResult:
    plan: PushPlan
    #: None when nothing changed (no commit made) or for a dry run
    commit_url: str | None = None
    commit_oid: str | None = None


def owned_by(path_in_repo: str, config: str) -> bool:
    """Whether a repo path belongs to ``config`` (its shards, report or preview)."""
    return (
        path_in_repo.startswith(f"{config}/")
        or path_in_repo == f"{REPORT_DIR}/{config}.json"
        or path_in_repo == f"{PREVIEW_DIR}/{config}.png"
    )


def config_files(out: Path, config: str, report: Mapping[str, Any]) -> list[PushFile]:
    """The files of one exported config, checked against its build report."""
    files = []
    for split, stats in report["splits"].items():
        paths = [out / config / name for name in stats["shards"]]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise NucleiCollectionError(f"{missing[0]}: shard listed in the build report is missing; rebuild {config}")
        rows = count_rows(paths)
        if rows != stats["records"]:
            raise NucleiCollectionError(
                f"{out / config}: {split} shards hold {rows} rows but the build report says {stats['records']}; "
                f"rebuild {config}"
            )
        files += [PushFile.from_path(f"{config}/{p.name}", p) for p in paths]
    files.append(PushFile.from_path(f"{REPORT_DIR}/{config}.json", out / REPORT_DIR / f"{config}.json"))
    if report.get("preview") and (out / report["preview"]).is_file():
        files.append(PushFile.from_path(report["preview"], out / report["preview"]))
    return files


def _remote_files(api: HfApi, repo_id: str, revision: str | None) -> dict[str, Any]:
    """Remote path -> tree entry (files only; entries carry ``blob_id`` and ``lfs``)."""
    entries = api.list_repo_tree(repo_id, recursive=True, repo_type=REPO_TYPE, revision=revision)
    return {entry.path: entry for entry in entries if hasattr(entry, "blob_id")}


def is_unchanged(local: PushFile, remote: Any) -> bool:
    """Same content remotely: LFS files by sha256, regular files by git blob id."""
    lfs = getattr(remote, "lfs", None)
    if lfs is not None:
        return lfs.sha256 == local.sha256
    return remote.size == local.size and remote.blob_id == local.git_blob_id()


def remote_reports(
    api: HfApi, repo_id: str, revision: str | None, remote: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Build reports of the configs in the repo (report file and at least one shard present)."""
    remote = _remote_files(api, repo_id, revision) if remote is None else remote
    reports = {}
    for path in sorted(remote):
        if not (path.startswith(f"{REPORT_DIR}/") and path.endswith(".json")):
            continue
        name = path[len(REPORT_DIR) + 1 : -len(".json")]
        if any(p.startswith(f"{name}/") for p in remote):
            local = api.hf_hub_download(repo_id, path, repo_type=REPO_TYPE, revision=revision)
            reports[name] = json.loads(Path(local).read_text(encoding="utf-8"))
    orphans = sorted({p.split("/", 1)[0] for p in remote if "/" in p and p.endswith(".parquet")} - set(reports))
    if orphans:
        logger.warning(
            "%s: config folder(s) without a build report are left as they are and not listed in the README: %s",
            repo_id,
            ", ".join(orphans),
        )
    return reports


def _target_exists(api: HfApi, repo_id: str, revision: str | None) -> bool:
    if not api.repo_exists(repo_id, repo_type=REPO_TYPE):
        return False
    return revision in (None, "main") or api.revision_exists(repo_id, revision, repo_type=REPO_TYPE)


def plan_push(
    out: Path | str,
    repo_id: str,
    configs: Iterable[str] | None = None,
    revision: str | None = None,
    api: HfApi | None = None,
    token: str | None = None,
) -> PushPlan:
    """Compare the export with the repo and decide what to upload and delete (changes nothing)."""
    out = Path(out)
    api = api or HfApi(token=token)
    with hub_errors(api, repo_id):
        return _plan_push(out, repo_id, configs, revision, api)


def _plan_push(out: Path, repo_id: str, configs: Iterable[str] | None, revision: str | None, api: HfApi) -> PushPlan:
    local_reports = load_reports(out)
    if not local_reports:
        raise NucleiCollectionError(f"{out}: no exported config found (run `nuclei-collection build` first)")
    names = sorted(local_reports) if configs is None else list(dict.fromkeys(configs))
    unknown = [n for n in names if n not in local_reports]
    if unknown:
        raise NucleiCollectionError(
            f"{out}: config(s) {unknown} not exported here; exported: {', '.join(sorted(local_reports))}"
        )
    if _target_exists(api, repo_id, revision):
        parent_commit = getattr(api.repo_info(repo_id, repo_type=REPO_TYPE, revision=revision), "sha", None)
        remote = _remote_files(api, repo_id, revision)
        found = remote_reports(api, repo_id, revision, remote)
    else:  # only in a dry run: push_to_hub creates the repo and branch first
        parent_commit, remote, found = None, {}, {}
    readme_reports = {name: report for name, report in found.items() if name not in names}
    readme_reports.update({name: local_reports[name] for name in names})

    wanted = [f for name in names for f in config_files(out, name, local_reports[name])]
    wanted.append(PushFile.from_bytes("README.md", render_readme(readme_reports).encode("utf-8")))
    plan = PushPlan(repo_id, revision, names, sorted(readme_reports), parent_commit=parent_commit)
    for local in wanted:
        existing = remote.get(local.path_in_repo)
        (plan.unchanged if existing is not None and is_unchanged(local, existing) else plan.uploads).append(local)
    keep = {f.path_in_repo for f in wanted}
    plan.deletions = sorted(p for p in remote if p not in keep and any(owned_by(p, name) for name in names))
    return plan


def push_to_hub(
    out: Path | str,
    repo_id: str,
    configs: Iterable[str] | None = None,
    private: bool | None = None,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    dry_run: bool = False,
    api: HfApi | None = None,
) -> PushResult:
    """Push the configs of an export folder (default: all) to the dataset repo ``repo_id``.

    Creates the repo (``private`` applies only then) and the branch ``revision`` if they
    do not exist, uploads new or changed files, deletes the pushed configs' stale files
    and rewrites README.md, all in one commit. ``dry_run`` only computes the plan and
    creates nothing (a repo or branch that does not exist yet counts as empty).
    """
    api = api or HfApi(token=token)
    with hub_errors(api, repo_id):
        return _push(out, repo_id, configs, private, revision, commit_message, dry_run, api)


def _push(
    out: Path | str,
    repo_id: str,
    configs: Iterable[str] | None,
    private: bool | None,
    revision: str | None,
    commit_message: str | None,
    dry_run: bool,
    api: HfApi,
) -> PushResult:
    if not dry_run:
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        if revision not in (None, "main"):
            api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True)
    plan = plan_push(out, repo_id, configs, revision, api=api)
    logger.info("%s", plan.summary())
    if dry_run or plan.is_empty:
        if plan.is_empty:
            logger.info("%s is up to date: no commit made", repo_id)
        return PushResult(plan)
    additions = [f.operation() for f in plan.uploads]
    # Upload the large files first: if this is interrupted, what was sent stays on the
    # Hub's storage and the next run's preupload skips it; the commit below is all or nothing.
    api.preupload_lfs_files(repo_id, additions, repo_type=REPO_TYPE, revision=revision)
    operations = [*additions, *(CommitOperationDelete(path_in_repo=path) for path in plan.deletions)]
    info = api.create_commit(
        repo_id,
        operations,
        commit_message=commit_message or f"Push {', '.join(plan.configs)}",
        commit_description=plan.summary(),
        repo_type=REPO_TYPE,
        revision=revision,
        parent_commit=plan.parent_commit,
    )
    return PushResult(plan, commit_url=info.commit_url, commit_oid=info.oid)
