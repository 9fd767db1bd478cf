"""The corpus of real Python: pinned PyPI source distributions, downloaded once into a cache outside git,
read in place, deduplicated by file and split by package.

`training/corpus/packages.txt` names the packages (with a category); `training/corpus/manifest.tsv` pins each to
one source distribution (version, file name, sha256, size, licence). `resolve_manifest` writes the manifest (a
maintainer step, run when the package list changes); `download` fetches exactly the pinned files and refuses
any whose sha256 differs. The index is the one pip is configured with, so no host is written here.
"""
from __future__ import annotations

import csv
import email.parser
import hashlib
import io
import json
import logging
import os
import re
import tarfile
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parents[1]
PACKAGES = HERE / "corpus" / "packages.txt"
MANIFEST = HERE / "corpus" / "manifest.tsv"
CACHE = Path(os.environ.get("HUNKGUARD_CORPUS_CACHE", HERE / ".cache" / "corpus"))
FIELDS = ["package", "version", "category", "filename", "sha256", "size", "license", "split"]
# sdists larger than this are mostly data, docs or vendored front-ends
MAX_SDIST_BYTES = 40_000_000
# a package may bring at most this many lines, so a few giants (django, salt, pandas) do not dominate
MAX_LINES_PER_PACKAGE = 60_000
MAX_FILE_BYTES = 300_000
SKIP_DIRS = {"_vendor", "vendor", "vendored", "third_party", "thirdparty", "node_modules", "site-packages",
             "__pycache__", "build", "dist", ".tox", ".git", "migrations", "locale", "static"}
TEST_DIR_RE = re.compile(r"(^|/)(tests?|testing|test_?suite|unit_?tests?|functional_?tests?|fixtures)(/|$)")
TEST_FILE_RE = re.compile(r"(^|/)(test_[^/]*|[^/]*_tests?|conftest|tests)\.py$")
# every seventh package (by a stable hash of its name) is held out: never pretrained on, never fine-tuned on
VAL_EVERY = 7


def package_split(name: str) -> str:
    """'val' for held-out packages, else 'train'; a stable function of the normalised name."""
    h = int(hashlib.sha1(normalise(name).encode()).hexdigest()[:8], 16)
    return "val" if h % VAL_EVERY == 0 else "train"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_packages(path: Path = PACKAGES) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, cat = line.split()
            out.append((name, cat))
    return out


def read_manifest(path: Path = MANIFEST) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader((l for l in f if not l.startswith("#")), delimiter="\t"))


def manifest_sha256(path: Path = MANIFEST) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _index_url() -> str:
    """The simple index pip uses (its configuration, else pip's own default)."""
    url = os.environ.get("PIP_INDEX_URL")
    if not url:
        try:
            from pip._internal.models.index import PyPI
            url = PyPI.simple_url
        except ImportError as e:  # pip is in every venv this pipeline runs in
            raise RuntimeError("cannot find the package index: set PIP_INDEX_URL") from e
    return url.rstrip("/")


def _get(url: str, accept: str | None = None, timeout: int = 120) -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    for attempt in range(3):
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read()
        except OSError as e:
            if attempt == 2:
                raise
            log.warning("retrying %s: %s", url.rsplit("/", 1)[-1], e)
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


_PRE = re.compile(r"(a|b|rc|dev|alpha|beta|pre)\d*", re.I)


def _version_of(filename: str, name: str) -> str | None:
    base = re.sub(r"\.(tar\.gz|zip|tar\.bz2|tgz)$", "", filename)
    n = normalise(name)
    # the file name is <name>-<version>; names may use _ or . or - interchangeably
    m = re.match(r"^(.*?)-(\d[^-]*)$", base)
    if not m or normalise(m.group(1)) != n:
        return None
    return m.group(2)


def _pick_sdist(name: str, cutoff: str) -> dict | None:
    data = json.loads(_get(f"{_index_url()}/{normalise(name)}/", "application/vnd.pypi.simple.v1+json"))
    best = None
    for f in data.get("files", []):
        fn = f["filename"]
        if f.get("yanked") or not fn.endswith((".tar.gz", ".zip")):
            continue
        v = _version_of(fn, name)
        if not v or _PRE.search(v.split("+")[0].split(".")[-1]) or _PRE.search(v):
            continue
        if (f.get("upload-time") or "") > cutoff or (f.get("size") or 0) > MAX_SDIST_BYTES:
            continue
        if best is None or (f.get("upload-time") or "") > (best.get("upload-time") or ""):
            best = dict(f, version=v)
    return best


def cache_path(row: dict, cache: Path = CACHE) -> Path:
    return cache / "sdist" / row["filename"]


def _license_of(blob: bytes, filename: str) -> str:
    """The licence an sdist declares in its PKG-INFO (License-Expression, License, or licence classifiers)."""
    text = None
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(blob)) as z:
                for n in sorted(z.namelist(), key=len):
                    if n.endswith("PKG-INFO"):
                        text = z.read(n).decode("utf-8", "replace")
                        break
        else:
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as t:
                for m in sorted(t.getmembers(), key=lambda m: len(m.name)):
                    if m.name.endswith("PKG-INFO") and m.isfile():
                        text = t.extractfile(m).read().decode("utf-8", "replace")
                        break
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError):
        return "unknown"
    if not text:
        return "unknown"
    msg = email.parser.Parser().parsestr(text, headersonly=True)
    expr = (msg.get("License-Expression") or "").strip()
    if expr:
        return expr
    classifiers = [c.split("::")[-1].strip() for c in msg.get_all("Classifier") or [] if c.startswith("License ::")]
    lic = (msg.get("License") or "").strip().splitlines()
    lic = lic[0][:60] if lic and lic[0].upper() not in ("", "UNKNOWN") else ""
    return "; ".join(classifiers) or lic or "unknown"


def resolve_manifest(packages: Path = PACKAGES, out: Path = MANIFEST, cutoff: str = "2026-11-01",
                     cache: Path = CACHE) -> list[dict]:
    """Pin every listed package to its newest stable sdist uploaded before `cutoff`, download it into the
    cache and record its sha256 and licence. Packages without a usable sdist are listed as skipped."""
    rows, skipped = [], []

    def one(item):
        name, cat = item
        try:
            f = _pick_sdist(name, cutoff)
        except OSError as e:
            return None, f"{name}: index error {e}"
        if f is None:
            return None, f"{name}: no stable sdist under {MAX_SDIST_BYTES // 1_000_000} MB before {cutoff}"
        row = {"package": normalise(name), "version": f["version"], "category": cat, "filename": f["filename"],
               "sha256": f["hashes"]["sha256"], "size": str(f.get("size") or 0), "license": "",
               "split": package_split(name)}
        p = cache_path(row, cache)
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            blob = _get(f["url"])
            if hashlib.sha256(blob).hexdigest() != row["sha256"]:
                return None, f"{name}: sha256 mismatch"
            p.write_bytes(blob)
        row["license"] = _license_of(p.read_bytes(), row["filename"])
        return row, None

    with ThreadPoolExecutor(8) as ex:
        for row, why in ex.map(one, read_packages(packages)):
            if row:
                rows.append(row)
            else:
                skipped.append(why)
    seen = set()
    rows = [r for r in sorted(rows, key=lambda r: r["package"]) if not (r["package"] in seen or seen.add(r["package"]))]
    with open(out, "w", newline="") as fh:
        fh.write(f"# pinned by training/run.py --corpus-manifest (cutoff {cutoff}); {len(rows)} packages\n")
        for s in sorted(skipped):
            fh.write(f"# skipped {s}\n")
        w = csv.DictWriter(fh, FIELDS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    log.info("corpus manifest: %d packages pinned, %d skipped", len(rows), len(skipped))
    return rows


def download(rows: list[dict], cache: Path = CACHE) -> list[Path]:
    """Fetch the pinned files that are not cached yet; a file whose sha256 differs is an error."""
    index = _index_url()

    def one(row):
        p = cache_path(row, cache)
        if p.exists() and hashlib.sha256(p.read_bytes()).hexdigest() == row["sha256"]:
            return p
        data = json.loads(_get(f"{index}/{row['package']}/", "application/vnd.pypi.simple.v1+json"))
        f = next((f for f in data.get("files", []) if f["filename"] == row["filename"]), None)
        if f is None:
            raise RuntimeError(f"{row['filename']} is no longer on the index")
        blob = _get(f["url"])
        if hashlib.sha256(blob).hexdigest() != row["sha256"]:
            raise RuntimeError(f"{row['filename']}: sha256 differs from the manifest")
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".part")
        tmp.write_bytes(blob)
        os.replace(tmp, p)
        return p

    with ThreadPoolExecutor(8) as ex:
        return list(ex.map(one, rows))


@dataclass
class SourceFile:
    package: str
    path: str  # inside the package (the sdist's top folder removed)
    text: str
    is_test: bool
    # a file past the package's first MAX_LINES_PER_PACKAGE lines, added by `extend_corpus` (training packages only)
    extension: bool = False


def _skip_path(rel: str) -> bool:
    parts = rel.split("/")
    return any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1])


def iter_sources(row: dict, cache: Path = CACHE) -> list[SourceFile]:
    """The Python files of one pinned sdist, read in place (never unpacked), vendored folders skipped."""
    p = cache_path(row, cache)
    out = []

    def add(name: str, data: bytes):
        rel = name.split("/", 1)[1] if "/" in name else name
        if not rel.endswith(".py") or _skip_path(rel) or len(data) > MAX_FILE_BYTES:
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        out.append(SourceFile(row["package"], rel, text, bool(TEST_DIR_RE.search(rel) or TEST_FILE_RE.search(rel))))

    try:
        if row["filename"].endswith(".zip"):
            with zipfile.ZipFile(p) as z:
                for n in sorted(z.namelist()):
                    if n.endswith(".py"):
                        add(n, z.read(n))
        else:
            # streamed in archive order: seeking backwards in a gzip stream decompresses it again from the start
            with tarfile.open(p, mode="r|*") as t:
                for m in t:
                    if m.isfile() and m.name.endswith(".py"):
                        f = t.extractfile(m)
                        if f is not None:
                            add(m.name, f.read())
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as e:
        log.warning("%s: unreadable archive (%s), skipped", row["filename"], e)
    out.sort(key=lambda f: f.path)
    return out


def load_corpus(rows: list[dict], cache: Path = CACHE, max_lines: int = MAX_LINES_PER_PACKAGE) -> dict[str, list[SourceFile]]:
    """package -> its files, deduplicated across the whole corpus (first package in name order keeps a file
    that several ship, e.g. a vendored six.py) and capped at `max_lines` per package (non-test files first)."""
    seen: set[str] = set()
    out: dict[str, list[SourceFile]] = {}
    for row in sorted(rows, key=lambda r: r["package"]):
        files = iter_sources(row, cache)
        files.sort(key=lambda f: (f.is_test, f.path))
        kept, n = [], 0
        for f in files:
            key = hashlib.sha1(re.sub(r"\s+", "", f.text).encode()).hexdigest()
            if key in seen or not f.text.strip():
                continue
            lines = f.text.count("\n") + 1
            if n + lines > max_lines and kept:
                continue
            seen.add(key)
            kept.append(f)
            n += lines
        out[row["package"]] = kept
    return out


def corpus_extension(corpus: dict[str, list[SourceFile]], rows: list[dict], extra_lines: int,
                     cache: Path = CACHE) -> dict[str, list[SourceFile]]:
    """Up to `extra_lines` more non-test lines for each training package that `load_corpus` capped, as files
    marked `extension` (package -> files; `extend` adds them). A second pass, after every package's capped
    files are chosen, so the capped corpus, the held-out packages and everything graded on them stay byte for
    byte what they were; a file any package already holds is not added again."""
    seen = {hashlib.sha1(re.sub(r"\s+", "", f.text).encode()).hexdigest() for fs in corpus.values() for f in fs}
    out: dict[str, list[SourceFile]] = {}
    for row in sorted(rows, key=lambda r: r["package"]):
        pkg = row["package"]
        if row["split"] != "train" or pkg not in corpus:
            continue
        have = {f.path for f in corpus[pkg]}
        extra, n = [], 0
        # a stable pseudo-random order of paths, as `distil.labelled_files` samples, not the first folders by name
        for f in sorted(iter_sources(row, cache), key=lambda f: hashlib.sha1(f.path.encode()).hexdigest()):
            if f.is_test or f.path in have or not f.text.strip():
                continue
            key = hashlib.sha1(re.sub(r"\s+", "", f.text).encode()).hexdigest()
            lines = f.text.count("\n") + 1
            if key in seen or n + lines > extra_lines:
                continue
            seen.add(key)
            extra.append(SourceFile(f.package, f.path, f.text, False, extension=True))
            n += lines
        if extra:
            out[pkg] = sorted(extra, key=lambda f: f.path)
    return out


def extend(corpus: dict[str, list[SourceFile]], extension: dict[str, list[SourceFile]]) -> dict[str, list[SourceFile]]:
    """The corpus with each package's extension files after its own."""
    return {pkg: files + extension.get(pkg, []) for pkg, files in corpus.items()}


def corpus_stats(corpus: dict[str, list[SourceFile]], rows: list[dict]) -> dict:
    split = {r["package"]: r["split"] for r in rows}
    cat = {r["package"]: r["category"] for r in rows}
    st = {"packages": len(corpus), "files": 0, "lines": 0, "test_lines": 0, "extension_lines": 0,
          "extension_packages": 0, "by_split": {}, "by_category": {}}
    for pkg, files in corpus.items():
        n = sum(f.text.count("\n") + 1 for f in files)
        ext = sum(f.text.count("\n") + 1 for f in files if f.extension)
        st["extension_lines"] += ext
        st["extension_packages"] += bool(ext)
        st["files"] += len(files)
        st["lines"] += n
        st["test_lines"] += sum(f.text.count("\n") + 1 for f in files if f.is_test)
        s = st["by_split"].setdefault(split.get(pkg, "?"), {"packages": 0, "lines": 0})
        s["packages"] += 1
        s["lines"] += n
        c = st["by_category"].setdefault(cat.get(pkg, "?"), {"packages": 0, "lines": 0})
        c["packages"] += 1
        c["lines"] += n
    return st
