"""Extending the corpus past its per-package cap: more training code, the graded sets untouched."""
import io
import tarfile

from hunkguard_train import corpus as C
from hunkguard_train.distil import budget_steps, labelled_files, labelled_union
from hunkguard_train.pretrain import corpus_texts


def _sdist(cache, package, files):
    """A real .tar.gz sdist in `cache/sdist/`, with its top folder as pip downloads it."""
    (cache / "sdist").mkdir(parents=True, exist_ok=True)
    name = f"{package}-1.0.tar.gz"
    with tarfile.open(cache / "sdist" / name, "w:gz") as t:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{package}-1.0/{rel}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return {"package": package, "filename": name, "split": "train"}


def _module(i, lines=10):
    return "".join(f"value_{i}_{k} = {k} * {i}\n" for k in range(lines - 1))


def _corpus(tmp_path):
    big = {f"big/m{i}.py": _module(i) for i in range(30)}
    big["big/vendored_copy.py"] = "SHARED = 'in two packages'\n" * 5
    big["tests/test_big.py"] = _module(99)
    held = {f"held/h{i}.py": _module(100 + i) for i in range(30)}
    rows = [_sdist(tmp_path, "big", big), dict(_sdist(tmp_path, "held", held), split="val"),
            _sdist(tmp_path, "aaa", {"aaa/vendored_copy.py": "SHARED = 'in two packages'\n" * 5})]
    corpus = C.load_corpus(rows, tmp_path, max_lines=100)
    return rows, corpus


def test_the_extension_adds_only_uncapped_non_test_code_of_training_packages(tmp_path):
    rows, corpus = _corpus(tmp_path)
    ext = C.corpus_extension(corpus, rows, 50, tmp_path)
    assert set(ext) == {"big"}, "held-out packages stay capped, and a package the cap did not cut has nothing to add"
    added = ext["big"]
    assert added and all(f.extension and not f.is_test for f in added)
    assert sum(f.text.count("\n") + 1 for f in added) <= 50
    have = {f.path for f in corpus["big"]}
    assert not have & {f.path for f in added}
    assert "big/vendored_copy.py" not in {f.path for f in added}, "a file another package holds is not added again"
    assert C.corpus_extension(corpus, rows, 50, tmp_path) == ext, "the same files on every run"


def test_extending_changes_no_budget_step_and_labels_the_extension_as_a_step_of_its_own(tmp_path):
    rows, corpus = _corpus(tmp_path)
    extended = C.extend(corpus, C.corpus_extension(corpus, rows, 50, tmp_path))
    before, after = budget_steps(corpus["big"]), budget_steps(extended["big"])
    assert after[:-1] == before[:-1], "cached Bandit reports of the earlier steps stay valid"
    assert before[-1] == [] and after[-1] and all(f.extension for f in after[-1])
    assert labelled_files(extended["big"]) == labelled_files(corpus["big"])
    assert {f.path for f in labelled_union(extended["big"])} >= {f.path for f in after[-1]}
    assert extended["held"] == corpus["held"]


def test_pretraining_reads_the_capped_corpus_whatever_a_run_extends(tmp_path):
    rows, corpus = _corpus(tmp_path)
    extended = C.extend(corpus, C.corpus_extension(corpus, rows, 50, tmp_path))
    assert corpus_texts(extended, rows, 10**9, seed=1) == corpus_texts(corpus, rows, 10**9, seed=1)


def test_the_corpus_figures_say_how_much_of_the_corpus_is_extension(tmp_path):
    rows, corpus = _corpus(tmp_path)
    ext = C.corpus_extension(corpus, rows, 50, tmp_path)
    rows = [dict(r, category="lib") for r in rows]
    st = C.corpus_stats(C.extend(corpus, ext), rows)
    assert st["extension_packages"] == 1
    assert st["extension_lines"] == sum(f.text.count("\n") + 1 for f in ext["big"]) > 0
    assert C.corpus_stats(corpus, rows)["extension_lines"] == 0
