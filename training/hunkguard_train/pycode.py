"""Python source handling: labelled lines, comment/docstring stripping, identifier renaming,
reformatting, new values for credential literals, hunk-like fragments, and the risky-call filter for benign
code.

Every transformation works on `Lines`: the text lines plus, per line, the set of CWE labels and
whether the label is known. Lines are only kept, dropped, rewritten in place or inserted with their
own labels, so line labels stay aligned whatever the transformation does.
"""
from __future__ import annotations

import ast
import builtins
import keyword
import random
import re
import string
import textwrap
from dataclasses import dataclass, field

EMPTY: frozenset = frozenset()


@dataclass
class Lines:
    text: list[str]
    labels: list[frozenset] = field(default_factory=list)  # per line: CWE ids
    known: list[bool] = field(default_factory=list)  # per line: False = do not train tokens of this line

    def __post_init__(self):
        if not self.labels:
            self.labels = [EMPTY] * len(self.text)
        if not self.known:
            self.known = [True] * len(self.text)
        assert len(self.text) == len(self.labels) == len(self.known)

    @classmethod
    def from_code(cls, code: str, line_labels: dict[int, set] | None = None, unknown: set[int] | None = None):
        text = normalize_newlines(code).split("\n")
        labels = [frozenset((line_labels or {}).get(i + 1, ())) for i in range(len(text))]
        known = [(i + 1) not in (unknown or ()) for i in range(len(text))]
        return cls(text, labels, known)

    @property
    def code(self) -> str:
        return "\n".join(self.text)

    def positive_lines(self) -> list[int]:
        return [i for i, l in enumerate(self.labels) if l]

    def label_set(self) -> frozenset:
        s = set()
        for l in self.labels:
            s |= l
        return frozenset(s)

    def keep(self, idx: list[int]) -> "Lines":
        return Lines([self.text[i] for i in idx], [self.labels[i] for i in idx], [self.known[i] for i in idx])

    def with_text(self, text: list[str]) -> "Lines":
        assert len(text) == len(self.text)
        return Lines(list(text), list(self.labels), list(self.known))

    def __add__(self, other: "Lines") -> "Lines":
        return Lines(self.text + other.text, self.labels + other.labels, self.known + other.known)


def normalize_newlines(code: str) -> str:
    return code.replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------------------------- comments
# One rule for training and the Rust runtime (src/hunks/strip.rs): lexical and line-based, so it works
# on fragments that do not parse. The shared cases in tests/fixtures/preprocess/ hold both to it.
#  - a `#` outside a string starts a comment, cut with the whitespace before it; a line the cut
#    leaves blank is dropped;
#  - a bare string statement (a docstring, or any statement that is only a string literal, even over
#    several lines) is dropped when nothing but a comment follows its closing quote;
#  - strings are ' and ", their triple forms and any prefix (r, b, f, u; two at most); a backslash
#    escapes the next character, and a single-quoted string ends at the end of its line.
_PREFIX = set("rRbBuUfF")


def _first_string_quote(line: str) -> int | None:
    start = len(line) - len(line.lstrip(" \t\x0c"))
    if start >= len(line):
        return None
    prefix = 0
    while start + prefix < len(line) and line[start + prefix] in _PREFIX:
        prefix += 1
    quote = start + prefix
    if prefix <= 2 and quote < len(line) and line[quote] in "'\"":
        return quote
    return None


def _string_end(line: str, start: int, quote: str, triple: bool) -> int | None:
    k = start
    while k < len(line):
        c = line[k]
        if c == "\\":
            k += 2
            continue
        if c == quote:
            if not triple:
                return k + 1
            if line[k + 1:k + 3] == quote * 2:
                return k + 3
        k += 1
    return None


def strip_lines(text: list[str]) -> list[str | None]:
    """Each line with its comment cut, or None where the line is dropped (the rule above)."""
    out: list[str | None] = list(text)
    open_quote: tuple[str, bool] | None = None
    depth = 0
    continued = False
    bare_from: int | None = None
    for index, line in enumerate(text):
        at_statement = open_quote is None and depth == 0 and not continued
        bare_quote = _first_string_quote(line) if at_statement else None
        comment_at = None
        k = 0
        while k < len(line):
            if open_quote is not None:
                end = _string_end(line, k, *open_quote)
                if end is not None:
                    open_quote = None
                    k = end
                    if bare_from is not None:
                        rest = line[end:].lstrip()
                        if not rest or rest.startswith("#"):
                            for dropped in range(bare_from, index + 1):
                                out[dropped] = None
                        bare_from = None
                else:
                    if not open_quote[1] and not line.endswith("\\"):
                        open_quote = None
                        bare_from = None
                    k = len(line)
                continue
            c = line[k]
            if c == "#":
                comment_at = k
                break
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth = max(0, depth - 1)
            elif c in "'\"":
                triple = line[k + 1:k + 3] == c * 2
                open_quote = (c, triple)
                if bare_quote == k:
                    bare_from = index
                k += 3 if triple else 1
                continue
            k += 1
        if open_quote is not None and not open_quote[1] and not line.endswith("\\"):
            open_quote = None
            bare_from = None
        continued = open_quote is None and comment_at is None and line.endswith("\\")
        if comment_at is not None and out[index] is not None:
            code = line[:comment_at].rstrip()
            out[index] = code if code.strip() else None
    return out


def strip_comments_and_docstrings(lines: Lines) -> Lines:
    """Remove comments and docstrings (bare string statements) by `strip_lines`; drop lines emptied by
    it. Keeps the original when a positive example would lose all its labelled lines."""
    stripped = strip_lines(lines.text)
    keep = [i for i, t in enumerate(stripped) if t is not None]
    res = lines.with_text([t if t is not None else lines.text[i] for i, t in enumerate(stripped)]).keep(keep)
    if lines.positive_lines() and not res.positive_lines():
        return lines
    if not any(t.strip() for t in res.text):
        return lines
    return res


def _common_prefix(text: list[str]) -> str:
    ws = [re.match(r"[ \t]*", t).group(0) for t in text if t.strip()]
    if not ws:
        return ""
    p = ws[0]
    for w in ws[1:]:
        while not w.startswith(p):
            p = p[:-1]
    return p


# --------------------------------------------------------------------------------------------- renaming
NAME_POOL = (
    "data value item result name path url query cmd command user user_id username payload body text content "
    "record entry key token config settings options params args kwargs resp response req handler client conn "
    "session db cursor row rows items values target source dest output buf buffer line lines msg message info "
    "obj node element doc tree root file_name filename fname folder directory base_dir host port addr address "
    "account profile order product page limit offset count total idx index pos start end size length amount "
    "status code result_set mapping lookup cache store registry manager service worker job task event ctx "
    "context state flag mode kind label title slug tag category group owner author email hint "
    "template html markup expr expression pattern regex selector fields columns table schema model form "
    "process run handle load fetch get_item update_item save_record build make_query render_page "
    "do_work check_value parse_input read_file write_file send_request compute apply execute_job"
).split()
_BUILTINS = set(dir(builtins)) | set(keyword.kwlist) | {"self", "cls", "match", "case", "_", "__name__"}
PROTECTED = _BUILTINS | {
    # framework globals that carry meaning and are rarely assigned in a hunk
    "request", "app", "os", "sys", "subprocess", "pickle", "yaml", "json", "re", "hashlib", "random",
    "secrets", "requests", "flask", "django", "jinja2", "sqlite3", "tempfile", "shutil", "logging",
    "logger", "log", "urllib", "ssl", "socket", "hmac", "base64", "marshal", "shelve", "xml", "lxml",
    "etree", "ET", "eval", "exec", "compile", "open", "input", "print", "setattr", "getattr", "super",
}


def _parse_dedented(code: str) -> ast.Module | None:
    """The snippet's syntax tree, dedented first (a hunk of a method body is indented); None when it does not parse
    (a fragment, or nesting too deep for the parser)."""
    try:
        return ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def defined_names(code: str) -> set[str]:
    """Names the snippet itself defines (functions, classes, parameters, assignment targets)."""
    names: set[str] = set()
    tree = _parse_dedented(code)
    if tree is not None:
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(n.name)
            elif isinstance(n, ast.arg):
                names.add(n.arg)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                names.add(n.id)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                names.add(n.name)
    else:
        for m in re.finditer(r"\b(?:def|class)\s+([A-Za-z_]\w*)", code):
            names.add(m.group(1))
        for m in re.finditer(r"\bdef\s+\w+\s*\(([^)]*)\)", code):
            for p in m.group(1).split(","):
                p = p.strip().lstrip("*").split("=")[0].split(":")[0].strip()
                if re.fullmatch(r"[A-Za-z_]\w*", p):
                    names.add(p)
        for m in re.finditer(r"^[ \t]*([A-Za-z_]\w*)\s*=[^=]", code, re.M):
            names.add(m.group(1))
        for m in re.finditer(r"\bfor\s+([A-Za-z_]\w*)\s+in\b", code):
            names.add(m.group(1))
    return {n for n in names if n not in PROTECTED and not n.startswith("__")}


def rename_identifiers(lines: Lines, rng: random.Random, p_keep: float = 0.0) -> Lines:
    """Consistently rename the names a snippet defines to names drawn from a pool shared by all
    classes, so that names (`unsafe_query`, `good()`) cannot decide the label."""
    names = sorted(defined_names(lines.code))
    if not names:
        return lines
    used = set(_NAME_RE.findall(lines.code))
    pool = [p for p in NAME_POOL if p not in used]
    rng.shuffle(pool)
    mapping: dict[str, str] = {}
    for i, n in enumerate(names):
        if rng.random() < p_keep:
            continue
        new = pool[i % len(pool)] if i < len(pool) else f"{pool[i % len(pool)]}{i}"
        if n[:1].isupper() and rng.random() < 0.8:
            new = "".join(w.capitalize() for w in new.split("_"))
        mapping[n] = new
    if not mapping:
        return lines
    return lines.with_text(_rename_all(lines.text, mapping))


_NAME_RE = re.compile(r"[A-Za-z_]\w*")
_STR_RE = re.compile(r"""(?:[rbuRBUfF]{0,2})("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')""")


def _rename_all(text: list[str], mapping: dict[str, str]) -> list[str]:
    """Rename line by line, tracking open brackets across lines so that keyword arguments of calls
    (`f(\n    shell=True)`) keep their names while parameters of a `def` are renamed."""
    stack: list[bool] = []  # per open bracket: True when it belongs to a def/lambda signature
    out = []
    for line in text:
        out.append(_rename_line(line, mapping, stack))
    return out


def _rename_line(line: str, mapping: dict[str, str], stack: list[bool]) -> str:
    out = []
    pos = 0
    is_def = line.lstrip().startswith(("def ", "async def ", "class "))
    for m in _STR_RE.finditer(line):
        out.append(_rename_code(line[pos:m.start()], mapping, stack, is_def))
        s = m.group(0)
        if s[:1] in "fF" or s[1:2] in "fF":
            s = re.sub(r"\{([A-Za-z_]\w*)", lambda mm: "{" + mapping.get(mm.group(1), mm.group(1)), s)
        out.append(s)
        pos = m.end()
    out.append(_rename_code(line[pos:], mapping, stack, is_def))
    return "".join(out)


_PIECE_RE = re.compile(r"[A-Za-z_]\w*|[()\[\]{}]|#.*$|\s+|.", re.S)


def _rename_code(seg: str, mapping: dict[str, str], stack: list[bool], is_def: bool) -> str:
    pieces = _PIECE_RE.findall(seg)
    res = []
    prev_sig = ""
    for k, p in enumerate(pieces):
        if p.startswith("#"):
            res.append(p)
            break
        if p in "([{" and len(p) == 1:
            stack.append(is_def or prev_sig == "lambda")
        elif p in ")]}" and len(p) == 1:
            if stack:
                stack.pop()
        elif p in mapping and prev_sig != ".":
            nxt = "".join(pieces[k + 1:k + 4]).lstrip()
            kwarg = nxt.startswith("=") and not nxt.startswith("==") and stack and not stack[-1]
            if not kwarg:
                p = mapping[p]
        res.append(p)
        if not p.isspace():
            prev_sig = p
    return "".join(res)


# --------------------------------------------------------------------------------------------- reformatting
def reindent(lines: Lines, rng: random.Random) -> Lines:
    """Change the indentation unit (2/3/4 spaces or tabs) and the base indentation."""
    text = [t.expandtabs(4) for t in lines.text]
    widths = [len(t) - len(t.lstrip(" ")) for t in text if t.strip()]
    if not widths:
        return lines
    base = min(widths)
    rel = sorted({w - base for w in widths if w > base})
    unit = rel[0] if rel else 4
    unit = max(unit, 1)
    new_unit = rng.choice([4, 4, 4, 2, 3, 8, "\t"])
    new_base = rng.choice([0, 0, 0, 4, 8])
    out = []
    for t in text:
        if not t.strip():
            out.append("")
            continue
        w = len(t) - len(t.lstrip(" "))
        lvl, extra = divmod(w - base, unit)
        if new_unit == "\t":
            ind = " " * new_base + "\t" * lvl + " " * extra
        else:
            ind = " " * (new_base + lvl * new_unit + extra)
        out.append(ind + t.lstrip(" "))
    return lines.with_text(out)


def swap_quotes(lines: Lines, rng: random.Random) -> Lines:
    """Switch simple string literals between ' and \" (line-preserving)."""
    target, other = ("'", '"') if rng.random() < 0.5 else ('"', "'")

    def repl(m: re.Match) -> str:
        s = m.group(0)
        body = s[1:-1]
        if s[0] != other or target in body or "\\" in body:
            return s
        return target + body + target

    pat = re.compile(r"(?<![A-Za-z0-9_'\"])(\"[^\"\n]*\"|'[^'\n]*')")
    return lines.with_text([pat.sub(repl, t) for t in lines.text])


def respace(lines: Lines, rng: random.Random) -> Lines:
    """Small spacing changes outside strings: after commas and around `=` in keyword arguments."""
    mode = rng.choice(["tight", "loose", "none"])
    if mode == "none":
        return lines
    out = []
    for t in lines.text:
        if "'" in t or '"' in t or "#" in t:
            out.append(t)
            continue
        if mode == "tight":
            t2 = re.sub(r",\s+(?=\S)", ",", t) if rng.random() < 0.3 else t
        else:
            t2 = re.sub(r"\(\s*", "( ", t, count=1) if rng.random() < 0.2 else t
            t2 = re.sub(r",(?=\S)", ", ", t2)
        out.append(t2)
    return lines.with_text(out)


def trailing_ws(lines: Lines, rng: random.Random) -> Lines:
    return lines.with_text([t + (" " * rng.randint(1, 3) if t.strip() and rng.random() < 0.1 else "") for t in lines.text])


# --------------------------------------------------------------------------------------------- fragments
SECRET_LABEL = "CWE-798"
# the assigned string of a line: `NAME = "..."`, `key="..."`, `'password': '...'` (not `==`)
_ASSIGNED_STR = re.compile(r"""(?<![=!<>])([=:]\s*[rbuRBU]?)(['"])((?:\\.|(?!\2)[^\\\n])*)\2""")
_SECRET_TARGET = re.compile(r"(?:pass|pwd|secret|token|key|cred|auth)\w*['\"]?\]?\s*$", re.I)
_SECRET_ALPHABET = string.ascii_letters + string.digits


def _secret_value(rng: random.Random, quote: str) -> str:
    """A credential-looking value of one of several shapes, as it would be written between `quote`s."""
    shape = rng.randrange(6)
    n = rng.randint(12, 48)
    if shape == 0:  # hex digest
        v = "".join(rng.choice("0123456789abcdef") for _ in range(n))
    elif shape == 1:  # base64
        v = "".join(rng.choice(_SECRET_ALPHABET + "+/") for _ in range(n)) + "=" * rng.randint(0, 2)
    elif shape == 2:  # a generated key with punctuation (Django's startproject style)
        v = "".join(rng.choice(_SECRET_ALPHABET + "!@#^&*(-_=+)") for _ in range(n))
    elif shape == 3:  # a memorable password
        word = rng.choice(["Summer", "dragon", "Welcome", "s3cret", "Passw0rd", "monkey", "Admin", "qwerty", "hunter"])
        v = word + str(rng.randint(0, 9999)) + rng.choice(["", "!", "#", "$", "@", "?"])
    elif shape == 4:  # escape sequences around a phrase
        esc = lambda: rng.choice(["\\x%02x" % rng.randrange(256), "\\%d" % rng.randint(0, 7), "\\t", "\\n"])
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(6, 16)))
        v = esc() + esc() + word + "".join(esc() for _ in range(rng.randint(1, 5)))
    else:  # a prefixed API key
        v = rng.choice(["sk_live_", "ghp_", "AKIA", "xoxb-", "key-", ""]) + "".join(
            rng.choice(_SECRET_ALPHABET) for _ in range(n))
    return v.replace(quote, "")


def reshape_secret_values(lines: Lines, rng: random.Random) -> Lines:
    """Give the string assigned on each credential line (labelled CWE-798) a new value of a random shape. What
    makes a hard-coded credential is a secret-named target holding a literal; the corpus's own values come in a
    few shapes, and a model trained on them alone misses a key written in another (escape sequences, say)."""
    text = list(lines.text)
    for i, labels in enumerate(lines.labels):
        if SECRET_LABEL not in labels:
            continue
        found = list(_ASSIGNED_STR.finditer(text[i]))
        if not found:
            continue
        # the string assigned to the secret-named target, else the last one (a dict's value, not its key)
        m = next((f for f in found if _SECRET_TARGET.search(text[i][:f.start()])), found[-1])
        value = _secret_value(rng, m.group(2))
        text[i] = text[i][:m.start(3)] + value + text[i][m.end(3):]
    return lines.with_text(text)


# where a credential is written in real code, and under which names
_PLANT_NAMES = ["SECRET_KEY", "secret_key", "API_KEY", "api_key", "API_TOKEN", "auth_token", "access_token",
                "DB_PASSWORD", "db_password", "PASSWORD", "password", "ADMIN_PASSWORD", "smtp_password",
                "CLIENT_SECRET", "client_secret", "AWS_SECRET_ACCESS_KEY", "JWT_SECRET", "webhook_secret",
                "SESSION_SECRET", "private_token"]
_PLANT_FORMS = ["{name} = {v}", "{name}: str = {v}", "self.{lname} = {v}", "app.config[{q}{uname}{q}] = {v}",
                "app.secret_key = {v}", "settings.{uname} = {v}", "config[{q}{lname}{q}] = {v}",
                "client = Client(host=host, {lname}={v})", "conn = connect(user=user, {lname}={v})",
                "CONFIG = {{{q}{lname}{q}: {v}}}"]
_PLAIN_NAMES = ["APP_NAME", "app_title", "TITLE", "DEFAULT_THEME", "LOG_FORMAT", "version", "greeting",
                "LANGUAGE_CODE", "SITE_HEADER", "brand", "TIME_ZONE", "cache_prefix", "user_agent", "label"]
_PHRASE_WORDS = ["this", "is", "my", "secret", "key", "super", "dev", "development", "app", "very", "private",
                 "default", "local", "test", "admin", "token"]


def _not_a_secret_value(rng: random.Random, name: str, q: str) -> str:
    """What a credential-named target holds when the code does not hard-code the credential: the environment, a
    settings lookup, nothing, the name of a thing, a placeholder or a template (the labelling rules' safe shapes)."""
    uname = name.upper()
    return rng.choice([
        f"os.environ[{q}{uname}{q}]", f"os.environ.get({q}{uname}{q})", f"os.getenv({q}{uname}{q}, {q}{q})",
        f"config({q}{uname}{q})", f"settings.{uname}", f"get_secret({q}{name.lower()}{q})", "None", f"{q}{q}",
        f"{q}{uname}{q}", f"{q}{name.lower()}{q}", f"{q}<your-{name.lower().replace('_', '-')}>{q}",
        f"{q}${{{uname}}}{q}", f"{q}%({name.lower()})s{q}", f"{q}{{{name.lower()}}}{q}", "value", "args." + name.lower(),
    ])


def _statement_starts(code: str) -> list[int]:
    """0-based lines where a statement starts (a decorated definition at its first decorator), by `ast`; empty when
    the code does not parse even dedented."""
    tree = _parse_dedented(code)
    if tree is None:
        return []
    starts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            decorators = getattr(node, "decorator_list", [])
            starts.add(min([d.lineno for d in decorators] + [node.lineno]) - 1)
    return sorted(starts)


def plant_secret(lines: Lines, rng: random.Random, hard_coded: bool) -> Lines | None:
    """`lines` (ordinary real code) with one credential line inserted where a statement can start: a secret-named
    target holding a literal of a credential's shape, labelled CWE-798 (`hard_coded`), or its unlabelled twin: the
    same target holding what real code holds instead (the environment, a placeholder, a name), or the same kind of
    literal under a name that is not a credential's (`APP_NAME`). The corpus has a few hundred hard-coded
    credentials, in few shapes and places; this puts them in thousands of real contexts, and the twins teach that
    neither the name alone nor the value alone is the flaw. None when no line can take a statement."""
    starts = _statement_starts(lines.code)
    if not starts:
        return None
    at = rng.choice(starts)
    indent = re.match(r"[ \t]*", lines.text[at]).group(0)
    name = rng.choice(_PLANT_NAMES)
    q = rng.choice(["'", '"'])
    if rng.random() < 0.25:  # a phrase: "thisismysecretkey", "dev-secret-key" (not "dev_key": a name)
        literal = q + rng.choice(["", "", "-"]).join(rng.sample(_PHRASE_WORDS, rng.randint(2, 4))) + q
    else:
        literal = q + _secret_value(rng, q) + q
    forms = _PLANT_FORMS
    if hard_coded:
        value = literal
    elif rng.random() < 0.5:
        value = _not_a_secret_value(rng, name, q)
    else:  # the same literal under a name that says it is not a credential: a title, a format, a theme
        name, value = rng.choice(_PLAIN_NAMES), literal
        forms = [f for f in _PLANT_FORMS if "secret_key" not in f]
    form = rng.choice(forms)
    line = indent + form.format(name=name, lname=name.lower(), uname=name.upper(), q=q, v=value)
    label = frozenset([SECRET_LABEL]) if hard_coded else EMPTY
    return Lines(lines.text[:at] + [line] + lines.text[at:], lines.labels[:at] + [label] + lines.labels[at:],
                 lines.known[:at] + [True] + lines.known[at:])


def fragment(lines: Lines, rng: random.Random, context_pool: list[Lines] | None = None,
             p_context: float = 0.5) -> Lines:
    """Cut a hunk-like fragment: start mid-function, keep a partial body, surround it with unrelated code.
    Positive examples always keep at least one labelled line (the fragment a reviewer would see)."""
    n = len(lines.text)
    pos = lines.positive_lines()
    if pos:
        v = rng.choice(pos)
        a = max(0, v - rng.choice([0, 1, 2, 3, 5, 8, 12, 20]))
        b = min(n, v + 1 + rng.choice([0, 1, 2, 3, 5, 8, 12]))
    else:
        length = rng.randint(2, min(max(n, 2), 40))
        a = rng.randint(0, max(0, n - length))
        b = min(n, a + length)
    frag = lines.keep(list(range(a, b)))
    if context_pool and rng.random() < p_context:
        if rng.random() < 0.7:
            c = rng.choice(context_pool)
            k = rng.randint(1, min(12, len(c.text)))
            s = rng.randint(0, len(c.text) - k)
            frag = Lines(list(c.text[s:s + k]), [EMPTY] * k, [True] * k) + frag
        if rng.random() < 0.5:
            c = rng.choice(context_pool)
            k = rng.randint(1, min(12, len(c.text)))
            s = rng.randint(0, len(c.text) - k)
            frag = frag + Lines(list(c.text[s:s + k]), [EMPTY] * k, [True] * k)
    return frag


def augment(lines: Lines, rng: random.Random, *, rename: bool = True, strip: bool = True,
            reformat: bool = True) -> Lines:
    out = lines
    if strip:
        out = strip_comments_and_docstrings(out)
    if rename:
        out = rename_identifiers(out, rng)
    if reformat:
        out = reindent(out, rng)
        if rng.random() < 0.4:
            out = swap_quotes(out, rng)
        if rng.random() < 0.3:
            out = respace(out, rng)
        if rng.random() < 0.2:
            out = trailing_ws(out, rng)
    return out


# --------------------------------------------------------------------------------------------- risky filter
RISKY_PATTERNS = [
    r"\beval\s*\(", r"\bexec\s*\(", r"\bcompile\s*\(", r"\bpickle\b", r"\bcPickle\b", r"\bmarshal\.loads?\b",
    r"\bshelve\b", r"\bdill\b", r"\bjsonpickle\b", r"shell\s*=\s*True", r"\bos\.system\b", r"\bos\.popen\b",
    r"\bos\.exec\w*\(", r"\bos\.spawn\w*\(", r"\bcommands\.getoutput", r"\bsubprocess\.", r"\bPopen\s*\(",
    r"\byaml\.load\b", r"\byaml\.unsafe_load\b", r"\bload_all\b", r"\bmd5\b", r"\bsha1\b", r"\bMD5\b", r"\bSHA1\b",
    r"verify\s*=\s*False", r"CERT_NONE", r"_create_unverified_context", r"check_hostname\s*=\s*False",
    r"AutoAddPolicy", r"\bmktemp\s*\(", r"chmod", r"0o?777", r"0o?666", r"\bumask\b", r"\bDES\b", r"\bARC4\b",
    r"\bRC4\b", r"Blowfish", r"\bECB\b", r"PROTOCOL_SSLv", r"PROTOCOL_TLSv1\b", r"\brandom\.(random|randint|choice|getrandbits|randrange)\b",
    r"\bexecute\s*\(", r"\bexecutescript\s*\(", r"\braw\s*\(", r"\bextra\s*\(", r"mark_safe", r"\bMarkup\s*\(",
    r"autoescape\s*=\s*False", r"render_template_string", r"\bTemplate\s*\(", r"\btorch\.load\b",
    r"\bXMLParser\b", r"resolve_entities", r"\bxml\.sax\b", r"\bminidom\b", r"\bxml\.dom\b", r"\bparseString\b",
    r"\bexpatbuilder\b", r"\bxpath\s*\(", r"\bldap\b", r"\$where", r"debug\s*=\s*True", r"DEBUG\s*=\s*True",
    r"csrf_exempt", r"CSRF", r"set_cookie", r"\bredirect\s*\(", r"\burlopen\s*\(", r"\brequests\.(get|post|put|request|delete)\b",
    r"password\s*=\s*['\"]", r"passwd\s*=\s*['\"]", r"secret\s*=\s*['\"]", r"token\s*=\s*['\"][A-Za-z0-9]", r"api_key\s*=\s*['\"]",
    r"SECRET_KEY", r"\bftplib\b", r"\btelnetlib\b", r"\bsmtplib\b", r"http://", r"\bjwt\.decode\b", r"verify_signature",
    r"traceback\.format_exc", r"\binput\s*\(", r"\b__import__\s*\(", r"\bimportlib\.import_module\b", r"\bgetattr\s*\(\s*\w+\s*,\s*request",
    r"\btarfile\b", r"\bzipfile\b", r"extractall", r"\bunpack_archive\b", r"\bre\.compile\s*\(\s*[a-z_]", r"\bsocket\b",
    r"bind\s*\(\s*\(\s*['\"]0\.0\.0\.0", r"/tmp/", r"\bsend_file\b", r"\bsend_from_directory\b", r"\bsetHeader\b",
    r"\.headers\s*\[", r"\bxmlrpc\b", r"\bassert\b.*password", r"\bhmac\.compare\b",
]
_RISKY_RE = re.compile("|".join(f"(?:{p})" for p in RISKY_PATTERNS))


def is_risky(code: str) -> bool:
    """True when code uses an API that one of our labels is about: such code is not labelled safe."""
    return _RISKY_RE.search(code) is not None
