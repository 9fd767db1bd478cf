"""Shared variation machinery for the synthetic generators (records as in training/CONTRACT.md).

A template is a function `template(ctx) -> Snip`. It picks a wrapper with `ctx.use(...)`, reads
untrusted values with `ctx.taint(...)`, writes the body into a `Snip` and sets the result; `ctx.render`
wraps it into a Flask / Django / FastAPI / aiohttp / http.server / WSGI / CGI handler, a CLI, a plain
function, a class method, a socket handler or a queue worker. The same template renders a vulnerable
example and its fixed twin: the two renders share one seed, so they differ only where the template
branches on `ctx.mark` (True for the vulnerable twin, False for the fix and for hard negatives).

Stable API (kept small on purpose; other generator modules import it):

    E(expr)                          an expression part for Ctx.fmt
    LEAKY_WORDS                      words that our own identifiers and strings must never contain
    WEB, WEB_HTML, CLI, LOCAL, ASYNC, ANY    framework groups for Ctx.use
    Ctx(seed, fixed=False)
        .use(frameworks, topic, verbs)   choose the wrapper and the handler's name
        .pick(seq) / .chance(p) / .randint(a, b)   shared choices (identical in both twins)
        .alt(seq)                    a choice made inside a branch that only one twin runs
        .mark                        True while rendering the vulnerable twin
        .ident(role, alt=False)      a fresh local name from a role pool (NAMES)
        .taint(role, kind, where)    read an untrusted value; returns the variable (or expression) name
        .handle(pool, local, module, attr)   a db/client handle: parameter, self attribute, local or global
        .imp(module, name=None)      record an import
        .const(name, value_src)      a module-level constant (returned name)
        .lit(s) / .rlit(s)           string literal in the example's quote style (raw for regexes)
        .fmt(parts) / .pfmt(parts)   build a string from literals and E(expr) (f-string, %, .format, +);
                                     pfmt parenthesises when the result is an operator expression
        .snip()                      a new Snip
        .render(snip) -> (code, vuln_lines)
    Snip: .add(text, mark=False), .block(header) (context manager), .fail(), .guard(cond),
          .call(lhs, func, args, mark), .noise(), .maybe_try(exc) (context manager),
          .ret(kind, expr=None, mark=False, **kw) with kind in data | html | text | redirect | header | none
    make_pairs(rng, family, cwe, template, n, seen) -> list[dict]     vuln + fix twins
    make_negatives(rng, family, template, n, seen) -> list[dict]      hard negatives
    example(code, cwe, vuln_lines, family, pair, kind) -> dict
"""
from __future__ import annotations

import random
import re
from contextlib import contextmanager

__all__ = [
    "E", "LEAKY_WORDS", "WEB", "WEB_HTML", "CLI", "LOCAL", "ASYNC", "ANY", "NAMES", "Ctx", "Snip",
    "make_pairs", "make_negatives", "example",
]

LEAKY_WORDS = frozenset(
    "bad unsafe vuln vulnerable vulnerability safe safely secure insecure good evil attack attacker "
    "exploit danger dangerous sanitize sanitise sanitized sanitizer malicious taint tainted untrusted "
    "trusted inject injection injected hack hacker xss sqli payload harmless risky".split()
)

WEB = ("flask", "django", "fastapi", "aiohttp", "httpserver", "wsgi", "cgi")
WEB_HTML = WEB
CLI = ("cli",)
LOCAL = ("lib", "method")
ASYNC = ("fastapi", "aiohttp", "lib", "method")
ANY = WEB + ("cli", "lib", "method", "socket", "worker")

NAMES = {
    "name": ["name", "username", "user", "login", "account", "handle", "member", "owner", "author", "nick"],
    "id": ["item_id", "uid", "user_id", "order_id", "ref", "slug", "key", "code", "sku", "ident"],
    "query": ["q", "term", "query", "keyword", "search", "needle", "text", "phrase", "words"],
    "path": ["filename", "fname", "path", "name", "doc", "file_name", "relpath", "report", "page",
             "asset", "attachment", "document"],
    "host": ["host", "hostname", "target", "addr", "server", "ip", "domain", "node", "peer"],
    "url": ["url", "target", "link", "src", "endpoint", "callback", "feed", "source", "uri", "image_url",
            "hook_url", "remote"],
    "next": ["next_url", "next_page", "return_to", "redirect_to", "dest", "goto", "continue_url", "back",
             "came_from", "after"],
    "expr": ["expr", "expression", "formula", "code", "calc", "source", "snippet", "rule", "script", "line"],
    "data": ["data", "raw", "body", "blob", "content", "buf", "packet", "state", "doc", "serialized"],
    "template": ["template", "tpl", "layout", "text", "message", "greeting", "subject", "fmt", "markup_src"],
    "pattern": ["pattern", "regex", "expr", "rule", "mask", "needle", "term", "spec", "filter_text"],
    "sort": ["sort", "order", "order_by", "sort_by", "column", "field"],
    "text": ["comment", "message", "title", "bio", "note", "text", "status", "caption", "reply", "label"],
    "header": ["lang", "locale", "theme", "filename", "ref", "trace", "request_id", "tag", "region",
               "channel", "version"],
    "password": ["password", "passwd", "pw", "pin", "passphrase"],
    "arg": ["branch", "ref", "tag", "revision", "version", "package", "pkg", "image", "archive", "dirname",
            "repo", "target", "name"],
    "email": ["email", "mail", "address", "contact", "recipient"],
    "result": ["result", "rows", "records", "items", "matches", "found", "entries", "out", "res"],
    "sqlvar": ["query", "sql", "stmt", "statement"],
    "cmd": ["cmd", "command", "cmdline", "shell_cmd"],
    "html": ["html", "page", "fragment", "markup", "content", "rendered", "out"],
    "pathvar": ["full_path", "target", "file_path", "location", "dest", "abs_path", "candidate"],
    "resp": ["resp", "response", "r", "reply", "upstream"],
    "tree": ["tree", "doc", "root", "document", "dom", "xml_doc"],
    "obj": ["obj", "state", "loaded", "record", "value", "restored", "model", "config"],
}

NOUNS = {
    "user": ["user", "account", "member", "profile", "customer", "author", "employee"],
    "file": ["file", "document", "report", "attachment", "export", "asset", "image", "backup", "upload"],
    "item": ["item", "product", "order", "invoice", "ticket", "article", "book", "event", "device"],
    "net": ["host", "service", "node", "server", "mirror", "probe", "status"],
    "url": ["preview", "feed", "webhook", "thumbnail", "page", "link", "proxy", "import"],
    "calc": ["formula", "expression", "rule", "metric", "filter", "score", "plugin"],
    "state": ["config", "settings", "state", "session", "job", "snapshot", "model", "cache", "profile"],
    "search": ["search", "lookup", "query", "match", "filter", "index", "catalog"],
    "page": ["page", "greeting", "banner", "profile", "comment", "message", "notice", "card", "widget"],
    "auth": ["login", "signin", "logout", "session", "auth", "sso", "account"],
    "dir": ["directory", "people", "group", "staff", "contact", "employee", "member"],
    "xml": ["feed", "invoice", "sitemap", "import", "manifest", "catalog", "order"],
    "log": ["audit", "login", "event", "access", "activity", "request"],
    "build": ["build", "release", "archive", "repo", "package", "image", "deploy"],
}

VERBS = {
    "read": ["get", "fetch", "load", "read", "show", "view", "find", "lookup", "serve", "open"],
    "write": ["save", "store", "write", "update", "create", "put", "export", "add"],
    "run": ["run", "ping", "probe", "build", "convert", "resize", "archive", "scan", "deploy", "restart"],
    "handle": ["handle", "process", "render", "submit", "apply", "import", "parse"],
    "delete": ["delete", "remove", "drop", "purge", "clear"],
}

PY_KEYWORDS = frozenset(
    "False None True and as assert async await break class continue def del elif else except finally for "
    "from global if import in is lambda nonlocal not or pass raise return try while with yield".split()
)


class E:
    """An expression part for `Ctx.fmt` (everything else in `parts` is literal text)."""

    __slots__ = ("expr",)

    def __init__(self, expr: str):
        self.expr = expr


def _esc(s: str, q: str) -> str:
    out = s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return out.replace(q, "\\" + q)


def _other(q: str) -> str:
    return "'" if q == '"' else '"'


_SIMPLE_EXPR = re.compile(r"^[A-Za-z_][\w.]*(\[[^\[\]]*\])?(\([^()]*\))?$")


def _camel(s: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in s.split("_") if p)


class Style:
    """Per-example style knobs (drawn once from the shared rng)."""

    def __init__(self, rng: random.Random):
        self.indent = 4 if rng.random() < 0.8 else 2
        self.fmt = rng.choice(["f", "f", "f", "percent", "format", "concat"])
        self.quote = '"' if rng.random() < 0.72 else "'"
        self.hints = rng.random() < 0.4
        self.inline = rng.random() < 0.4
        self.imports = rng.random() < 0.65
        self.noise = rng.random() < 0.25
        self.guard = rng.random() < 0.3
        self.wrap_try = rng.random() < 0.2
        self.multiline = rng.random() < 0.15
        self.blank = rng.random() < 0.3


class Snip:
    """Body lines of one example, relative to the handler body, plus the result to return."""

    def __init__(self, ctx: "Ctx"):
        self.ctx = ctx
        self.lines: list[tuple[int, str, bool]] = []
        self.depth = 0
        self.result: tuple | None = None

    def add(self, text: str, mark: bool = False) -> None:
        self.lines.append((self.depth, text, bool(mark)))

    def blank(self) -> None:
        self.lines.append((self.depth, "", False))

    @contextmanager
    def block(self, header: str, mark: bool = False):
        self.add(header, mark)
        self.depth += 1
        try:
            yield self
        finally:
            self.depth -= 1

    def fail(self, code: int = 400) -> None:
        for t in self.ctx.fail_lines(code):
            self.add(t)

    def guard(self, cond: str, code: int = 400) -> None:
        with self.block(f"if {cond}:"):
            self.fail(code)

    def maybe_guard(self, var: str) -> None:
        """An early exit on an empty value, in the example's style (same in both twins)."""
        if self.ctx.style.guard:
            self.guard(f"not {var}")

    def call(self, lhs: str | None, func: str, args: list[str], mark: bool = False) -> None:
        """`lhs = func(args...)`, on one line or split over several (all lines marked with `mark`)."""
        head = f"{lhs} = {func}(" if lhs else f"{func}("
        if self.ctx.style.multiline and args:
            self.add(head, mark)
            self.depth += 1
            for a in args:
                self.add(a + ",", mark)
            self.depth -= 1
            self.add(")", mark)
        else:
            self.add(head + ", ".join(args) + ")", mark)

    def noise(self, msg: str | None = None) -> None:
        """A neutral logging line (constant message), in some examples only."""
        if self.ctx.style.noise:
            lg = self.ctx.logger()
            m = msg or self.ctx.pick(["handling request", "lookup started", "processing", "start",
                                      "request received", "working"])
            self.add(f"{lg}.{self.ctx.pick(['debug', 'info'])}({self.ctx.lit(m)})")

    @contextmanager
    def maybe_try(self, exc: str = "Exception", code: int = 400):
        """Wrap the block in try/except (failing with `code`) in some examples only."""
        if self.ctx.style.wrap_try:
            self.add("try:")
            self.depth += 1
            try:
                yield self
            finally:
                self.depth -= 1
            self.add(f"except {exc}:")
            self.depth += 1
            self.fail(code)
            self.depth -= 1
        else:
            yield self

    def ret(self, kind: str, expr: str | None = None, mark: bool = False, **kw) -> None:
        """kind: data | html | text | redirect | header (kw: name, body) | raw (kw: lines=[(text, mark)]) | none."""
        self.result = (kind, expr, bool(mark), kw)


class Ctx:
    """All random choices for one example, or for a vulnerable/fixed twin rendered twice from one seed."""

    def __init__(self, seed: int, fixed: bool = False):
        self.seed = seed
        self.fixed = fixed
        self.rng = random.Random(seed)
        self.alt_rng = random.Random(seed * 2 + 1)
        self.rr = random.Random(seed * 3 + 7)  # used while rendering the wrapper only
        self.style = Style(self.rng)
        self.fw: str | None = None
        self.opt: dict = {}
        self.used: set[str] = set()
        self.imports: dict[str, set[str] | None] = {}
        self.module: list[str] = []
        self.consts: dict[str, str] = {}
        self.params: list[str] = []
        self.handles: list[tuple[str, str]] = []  # (param name, hint) for lib/method
        self.setup: list[str] = []
        self.cli_args: list[str] = []
        self.route_params: list[str] = []
        self.methods: set[str] = set()
        self.need_async = False
        self.need_request = False
        self.topic_noun = "item"
        self.fname = "handle"
        self._logger: str | None = None
        self._shared: dict[str, str] = {}

    # ------------------------------------------------------------------ random choices
    @property
    def mark(self) -> bool:
        return not self.fixed

    def pick(self, seq):
        return self.rng.choice(list(seq))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def randint(self, a: int, b: int) -> int:
        return self.rng.randint(a, b)

    def alt(self, seq):
        return self.alt_rng.choice(list(seq))

    def ident(self, role: str, alt: bool = False) -> str:
        pool = NAMES.get(role, [role])
        free = [n for n in pool if n not in self.used]
        if not free:
            free = [f"{pool[0]}_{i}" for i in range(2, 9) if f"{pool[0]}_{i}" not in self.used]
        n = (self.alt_rng if alt else self.rng).choice(free)
        self.used.add(n)
        return n

    def reserve(self, *names: str) -> None:
        self.used.update(names)

    # ------------------------------------------------------------------ imports, constants, literals
    def imp(self, module: str, name: str | None = None) -> None:
        if name is None:
            self.imports.setdefault(module, None)
        else:
            cur = self.imports.get(module)
            if cur is None:
                cur = set()
                self.imports[module] = cur
            cur.add(name)

    def const(self, name: str, value_src: str, mark: bool = False) -> str:
        """A module-level constant `name = value_src` (once); returns `name`."""
        if name not in self.consts:
            self.consts[name] = value_src
            self.module.append((f"{name} = {value_src}", bool(mark)))
            self.used.add(name)
        return name

    def module_line(self, text: str, mark: bool = False) -> None:
        """A module-level line placed after the imports."""
        self.module.append((text, bool(mark)))

    def lit(self, s: str) -> str:
        q = self.style.quote
        if q in s and _other(q) not in s:
            q = _other(q)
        return q + _esc(s, q) + q

    def rlit(self, s: str) -> str:
        q = self.style.quote
        if q in s:
            q = _other(q)
        if q in s or s.endswith("\\") or "\n" in s:
            return self.lit(s)
        return "r" + q + s + q

    def fmt(self, parts: list, style: str | None = None) -> str:
        style = style or self.style.fmt
        exprs = [p.expr for p in parts if isinstance(p, E)]
        lits = "".join(p for p in parts if isinstance(p, str))
        if not exprs:
            return self.lit(lits)
        if style == "f":
            q0 = self.style.quote
            ok = [q for q in (q0, _other(q0)) if not any(q in e for e in exprs)]
            if ok and not any("\\" in e for e in exprs):
                q = ok[0]
                if q in lits and len(ok) > 1 and ok[1] not in lits:
                    q = ok[1]
                body = "".join(
                    _esc(p.replace("{", "{{").replace("}", "}}"), q) if isinstance(p, str) else "{" + p.expr + "}"
                    for p in parts
                )
                return "f" + q + body + q
            style = "format"
        if style == "percent":
            body = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in parts)
            if len(exprs) == 1:
                arg = exprs[0] if _SIMPLE_EXPR.match(exprs[0]) else f"({exprs[0]})"
            else:
                arg = "(" + ", ".join(exprs) + ")"
            return f"{self.lit(body)} % {arg}"
        if style == "format":
            body = "".join(p.replace("{", "{{").replace("}", "}}") if isinstance(p, str) else "{}" for p in parts)
            return f"{self.lit(body)}.format({', '.join(exprs)})"
        out = []
        for p in parts:
            if isinstance(p, E):
                out.append(p.expr if _SIMPLE_EXPR.match(p.expr) else f"({p.expr})")
            elif p:
                out.append(self.lit(p))
        return " + ".join(out)

    def pfmt(self, parts: list, style: str | None = None) -> str:
        s = self.fmt(parts, style)
        if " % " in s or " + " in s:
            return f"({s})"
        return s

    def snip(self) -> Snip:
        return Snip(self)

    # ------------------------------------------------------------------ framework choice
    def use(self, frameworks=ANY, topic: str = "item", verbs: str = "read") -> str:
        fws = list(frameworks)
        # weights: keep web frameworks frequent, others present
        self.fw = self.pick(fws)
        self.topic_noun = self.pick(NOUNS.get(topic, [topic]))
        verb = self.pick(VERBS.get(verbs, [verbs]))
        plural = self.topic_noun + ("s" if not self.topic_noun.endswith("s") else "")
        names = [f"{verb}_{self.topic_noun}", f"{verb}_{plural}", f"{self.topic_noun}_{verb}"]
        if self.fw == "django":
            names.append(f"{verb}_{self.topic_noun}_view")
        self.fname = self.pick(names)
        self.route = self.pick([f"/{plural}", f"/api/{plural}", f"/{self.topic_noun}", f"/v1/{plural}",
                                f"/{plural}/{verb}"])
        o = self.opt
        fw = self.fw
        o["fail"] = self.rng.random()
        self.reserve(self.fname, "self", "args", "parser", "request", "app", "os", "sys", "json", "re",
                     "environ", "start_response", "main", "channel", "method", "properties", "web", "routes",
                     "router", "bp", "api", "length", "g", "abort", "escape", "file", "logger", "log", "_log",
                     "form", "fields", "fs", "params", "qs", "query_args", "raw_body", "body_bytes", "posted",
                     "msg", "message", "event", "job", "resp", "response")
        if fw == "worker":
            self.reserve("body")
        if fw == "flask":
            o["app"] = self.pick(["app", "app", "bp", "api"])
            o["show_app"] = self.chance(0.35)
            o["class"] = self.chance(0.12)
            o["deco"] = self.pick(["route", "route", "short"])
            o["login"] = self.chance(0.15)
        elif fw == "django":
            o["class"] = self.chance(0.25)
            o["deco"] = self.pick([None, None, "require_http_methods", "login_required"])
        elif fw == "fastapi":
            o["app"] = self.pick(["app", "app", "router"])
            o["show_app"] = self.chance(0.35)
            o["async"] = self.chance(0.7)
        elif fw == "aiohttp":
            o["routes"] = self.chance(0.5)
        elif fw == "httpserver":
            pass
        elif fw == "wsgi":
            o["name"] = self.pick(["application", "app", f"{self.topic_noun}_app", "wsgi_app"])
        elif fw == "cgi":
            o["main"] = self.chance(0.4)
        elif fw == "cli":
            o["mode"] = self.pick(["argparse", "argparse", "argv", "env", "click", "input"])
            o["guard"] = self.chance(0.7)
        elif fw == "method":
            o["cls"] = _camel(self.topic_noun) + self.pick(["Service", "Repository", "Store", "Manager",
                                                            "Client", "Handler", "Api", "Backend"])
            o["init"] = self.chance(0.6)
        elif fw == "socket":
            o["mode"] = self.pick(["func", "func", "server"])
            o["conn"] = self.pick(["conn", "sock", "client_sock", "connection"])
            self.reserve(o["conn"])
            # drawn here, not while rendering: the twins' bodies may draw different numbers of choices
            o["fn"] = self.pick(["handle_client", "serve_client", "on_connection", self.fname])
        elif fw == "worker":
            o["mode"] = self.pick(["celery", "celery", "pika"])
            o["task"] = self.pick(["@shared_task", "@app.task", "@celery.task", "@celery_app.task"])
            o["fn"] = self.pick(["on_message", "callback", "handle_message", "consume"])
        return fw

    # ------------------------------------------------------------------ sources
    def _key(self, var: str, role: str) -> str:
        if self.chance(0.25):
            return self.pick(NAMES.get(role, [var]))
        return var

    def taint(self, role: str, kind: str = "str", where: str | None = None) -> str:
        """Read an untrusted value (kind: str | bytes | dict | list) and return its variable name.

        `where` restricts the source (query, form, json, header, cookie, path); None = any the wrapper has.
        """
        fw = self.fw
        if kind == "bytes" and fw == "worker" and self.opt.get("mode") == "pika":
            self.used.add("body")
            return "body"
        if kind == "dict":
            var = self.pick([n for n in ["data", "filters", "spec", "criteria", "doc_in", "body_json",
                                         "incoming"] if n not in self.used])
        else:
            var = self.ident(role) if role in NAMES else role
        self.used.add(var)
        key = self._key(var, role) if kind != "dict" else var
        hdr = "X-" + "-".join(_camel(p) for p in key.split("_"))
        meta = "HTTP_" + hdr.upper().replace("-", "_")
        envk = key.upper()
        q, lit = self.style.quote, self.lit
        k = lit(key)
        s = self.setup
        o = self.opt
        if fw in ("lib", "method") or (fw == "worker" and o["mode"] == "celery") or (
                fw == "cli" and o["mode"] == "click"):
            hint = {"str": "str", "bytes": "bytes", "dict": "dict", "list": "list[str]"}[kind]
            self.params.append(f"{var}: {hint}" if (self.style.hints and fw != "cli") else var)
            if fw == "cli":
                if kind == "list":
                    self.cli_args.append(f"@click.argument({k}, nargs=-1)")
                else:
                    self.cli_args.append(f"@click.argument({k})" if self.chance(0.6)
                                         else f"@click.option({lit('--' + key.replace('_', '-'))}, required=True)")
                self.imp("click")
            return var
        if fw == "flask":
            if kind == "bytes":
                s.append(f"{var} = " + self.pick(["request.get_data()", "request.data", "request.stream.read()",
                                                 f"request.files[{lit('file')}].read()"]))
                self.methods.add("POST")
            elif kind == "dict":
                s.append(f"{var} = " + self.pick(["request.get_json()", "request.json",
                                                 "request.get_json(force=True)"]))
                self.methods.add("POST")
            elif kind == "list":
                s.append(f"{var} = request.args.getlist({k})")
            else:
                w = where or self.pick(["query", "query", "form", "json", "header", "cookie", "path"])
                if w == "path":
                    self.route_params.append(var)
                    return var
                src = {
                    "query": [f"request.args.get({k}, {lit('')})", f"request.args[{k}]", f"request.args.get({k})",
                              f"request.values.get({k}, {lit('')})"],
                    "form": [f"request.form[{k}]", f"request.form.get({k}, {lit('')})"],
                    "json": [f"request.get_json()[{k}]", f"(request.get_json(silent=True) or {{}}).get({k}, {lit('')})",
                             f"request.json.get({k})"],
                    "header": [f"request.headers.get({lit(hdr)}, {lit('')})", f"request.headers.get({lit(hdr)})"],
                    "cookie": [f"request.cookies.get({k}, {lit('')})", f"request.cookies.get({k})"],
                }[w]
                if w in ("form", "json"):
                    self.methods.add("POST")
                s.append(f"{var} = {self.pick(src)}")
            self.imp("flask", "request")
            return var
        if fw == "django":
            if kind == "bytes":
                s.append(f"{var} = " + self.pick(["request.body", f"request.FILES[{lit('file')}].read()"]))
                self.methods.add("POST")
            elif kind == "dict":
                s.append(f"{var} = json.loads(request.body)")
                self.imp("json")
                self.methods.add("POST")
            elif kind == "list":
                s.append(f"{var} = request.GET.getlist({k})")
            else:
                w = where or self.pick(["query", "query", "form", "json", "header", "cookie", "path"])
                if w == "path":
                    self.route_params.append(var)
                    return var
                if w == "json":
                    self.imp("json")
                src = {
                    "query": [f"request.GET.get({k}, {lit('')})", f"request.GET[{k}]", f"request.GET.get({k})"],
                    "form": [f"request.POST.get({k}, {lit('')})", f"request.POST[{k}]"],
                    "json": [f"json.loads(request.body)[{k}]", f"json.loads(request.body).get({k}, {lit('')})"],
                    "header": [f"request.headers.get({lit(hdr)}, {lit('')})", f"request.META.get({lit(meta)}, {lit('')})"],
                    "cookie": [f"request.COOKIES.get({k}, {lit('')})", f"request.COOKIES.get({k})"],
                }[w]
                if w in ("form", "json"):
                    self.methods.add("POST")
                s.append(f"{var} = {self.pick(src)}")
            return var
        if fw == "fastapi":
            if kind == "bytes":
                if self.chance(0.5):
                    self.params.append("file: UploadFile = File(...)")
                    self.imp("fastapi", "UploadFile")
                    self.imp("fastapi", "File")
                    self.used.add("file")
                    s.append(f"{var} = await file.read()")
                else:
                    self.need_request = True
                    s.append(f"{var} = await request.body()")
                self.need_async = True
                self.methods.add("POST")
            elif kind == "dict":
                if self.chance(0.5):
                    self.need_request = True
                    self.need_async = True
                    s.append(f"{var} = await request.json()")
                else:
                    self.params.append(f"{var}: dict = Body(...)")
                    self.imp("fastapi", "Body")
                self.methods.add("POST")
            elif kind == "list":
                self.params.append(f"{var}: list[str] = Query([])")
                self.imp("fastapi", "Query")
            else:
                w = where or self.pick(["query", "query", "query", "form", "json", "header", "cookie", "path"])
                if w == "path":
                    self.route_params.append(var)
                    self.params.append(f"{var}: str")
                elif w == "query":
                    p = self.pick([f"{var}: str", f"{var}: str = {lit('')}", f"{var}: str = Query(...)",
                                   f"{var}: str = Query({lit('')})"])
                    if "Query" in p:
                        self.imp("fastapi", "Query")
                    self.params.append(p)
                elif w == "form":
                    self.params.append(f"{var}: str = Form(...)")
                    self.imp("fastapi", "Form")
                    self.methods.add("POST")
                elif w == "header":
                    if self.chance(0.5):
                        self.params.append(f"{var}: str = Header({lit('')})")
                        self.imp("fastapi", "Header")
                    else:
                        self.need_request = True
                        s.append(f"{var} = request.headers.get({lit(hdr)}, {lit('')})")
                elif w == "cookie":
                    self.params.append(f"{var}: str = Cookie({lit('')})")
                    self.imp("fastapi", "Cookie")
                else:
                    self.need_request = True
                    self.need_async = True
                    self.methods.add("POST")
                    s.append(f"{var} = (await request.json())[{k}]")
            return var
        if fw == "aiohttp":
            self.need_async = True
            if kind == "bytes":
                s.append(f"{var} = await request.read()")
                self.methods.add("POST")
            elif kind == "dict":
                s.append(f"{var} = await request.json()")
                self.methods.add("POST")
            elif kind == "list":
                s.append(f"{var} = request.query.getall({k}, [])")
            else:
                w = where or self.pick(["query", "query", "form", "json", "header", "cookie", "path"])
                src = {
                    "query": [f"request.query.get({k}, {lit('')})", f"request.rel_url.query.get({k}, {lit('')})",
                              f"request.query[{k}]"],
                    "form": [f"(await request.post()).get({k}, {lit('')})", f"(await request.post())[{k}]"],
                    "json": [f"(await request.json())[{k}]", f"(await request.json()).get({k}, {lit('')})"],
                    "header": [f"request.headers.get({lit(hdr)}, {lit('')})"],
                    "cookie": [f"request.cookies.get({k}, {lit('')})"],
                    "path": [f"request.match_info[{k}]", f"request.match_info.get({k}, {lit('')})"],
                }[w]
                if w == "path":
                    self.route_params.append(key)
                if w in ("form", "json"):
                    self.methods.add("POST")
                s.append(f"{var} = {self.pick(src)}")
            return var
        if fw == "httpserver":
            if kind in ("bytes", "dict") or (where in ("form", "json")):
                self._http_body()
                self.methods.add("POST")
                if kind == "bytes":
                    s.append(f"{var} = self.rfile.read(int(self.headers[{lit('Content-Length')}]))")
                    return var
                b = self._shared["body"]
                if kind == "dict":
                    s.append(f"{var} = json.loads({b})")
                    self.imp("json")
                elif where == "json":
                    s.append(f"{var} = json.loads({b})[{k}]")
                    self.imp("json")
                else:
                    s.append(f"{var} = parse_qs({b}.decode()).get({k}, [{lit('')}])[0]")
                    self.imp("urllib.parse", "parse_qs")
                return var
            w = where or self.pick(["query", "query", "query", "header", "path"])
            if w == "header" or w == "cookie":
                s.append(f"{var} = self.headers.get({lit(hdr)}, {lit('')})")
            elif w == "path":
                s.append(f"{var} = " + self.pick([f"unquote(self.path.rsplit({lit('/')}, 1)[-1])",
                                                  f"self.path.split({lit('?')})[0].rsplit({lit('/')}, 1)[-1]"]))
                self.imp("urllib.parse", "unquote")
            else:
                qv = self._shared.get("qs")
                if qv is None:
                    qv = self.pick(["params", "qs", "query_args"])
                    self._shared["qs"] = qv
                    s.append(f"{qv} = parse_qs(urlparse(self.path).query)")
                    self.imp("urllib.parse", "parse_qs")
                    self.imp("urllib.parse", "urlparse")
                if kind == "list":
                    s.append(f"{var} = {qv}.get({k}, [])")
                else:
                    s.append(f"{var} = {qv}.get({k}, [{lit('')}])[0]")
            return var
        if fw == "wsgi":
            if kind in ("bytes", "dict") or where in ("form", "json"):
                self.methods.add("POST")
                expr = f"environ[{lit('wsgi.input')}].read(int(environ.get({lit('CONTENT_LENGTH')}) or 0))"
                if kind == "bytes":
                    s.append(f"{var} = {expr}")
                elif kind == "dict" or where == "json":
                    self.imp("json")
                    s.append(f"{var} = json.loads({expr})" + ("" if kind == "dict" else f"[{k}]"))
                else:
                    self.imp("urllib.parse", "parse_qs")
                    s.append(f"{var} = parse_qs({expr}.decode()).get({k}, [{lit('')}])[0]")
                return var
            w = where or self.pick(["query", "query", "header", "path"])
            if w in ("header", "cookie"):
                s.append(f"{var} = environ.get({lit(meta)}, {lit('')})")
            elif w == "path":
                s.append(f"{var} = environ.get({lit('PATH_INFO')}, {lit('')}).rsplit({lit('/')}, 1)[-1]")
            else:
                qv = self._shared.get("qs")
                if qv is None:
                    qv = self.pick(["params", "qs", "query_args"])
                    self._shared["qs"] = qv
                    s.append(f"{qv} = parse_qs(environ.get({lit('QUERY_STRING')}, {lit('')}))")
                    self.imp("urllib.parse", "parse_qs")
                if kind == "list":
                    s.append(f"{var} = {qv}.get({k}, [])")
                else:
                    s.append(f"{var} = {qv}.get({k}, [{lit('')}])[0]")
            return var
        if fw == "cgi":
            if kind == "bytes":
                s.append(f"{var} = sys.stdin.buffer.read()")
                self.imp("sys")
                return var
            if kind == "dict":
                s.append(f"{var} = json.load(sys.stdin)")
                self.imp("json")
                self.imp("sys")
                return var
            w = where or self.pick(["query", "query", "header", "path"])
            if w in ("header", "cookie"):
                s.append(f"{var} = os.environ.get({lit(meta)}, {lit('')})")
                self.imp("os")
            elif w == "path":
                s.append(f"{var} = os.environ.get({lit('PATH_INFO')}, {lit('')}).lstrip({lit('/')})")
                self.imp("os")
            else:
                fv = self._shared.get("form")
                if fv is None:
                    fv = self.pick(["form", "fields", "fs"])
                    self._shared["form"] = fv
                    s.append(f"{fv} = cgi.FieldStorage()")
                    self.imp("cgi")
                if kind == "list":
                    s.append(f"{var} = {fv}.getlist({k})")
                else:
                    s.append(f"{var} = {fv}.getfirst({k}, {lit('')})" if self.chance(0.6)
                             else f"{var} = {fv}.getvalue({k}, {lit('')})")
            return var
        if fw == "cli":
            mode = o["mode"]
            if kind == "bytes":
                if mode in ("argparse",):
                    self.cli_args.append(f"parser.add_argument({lit('input')})")
                    s.append(f"{var} = Path(args.input).read_bytes()" if self.chance(0.5)
                             else f"{var} = open(args.input, {lit('rb')}).read()")
                    if "Path(" in s[-1]:
                        self.imp("pathlib", "Path")
                else:
                    s.append(self.pick([f"{var} = sys.stdin.buffer.read()",
                                        f"{var} = Path(sys.argv[1]).read_bytes()"]))
                    if "Path(" in s[-1]:
                        self.imp("pathlib", "Path")
                    self.imp("sys")
                return var
            if kind == "dict":
                s.append(f"{var} = json.load(sys.stdin)")
                self.imp("json")
                self.imp("sys")
                return var
            if mode == "argparse":
                n = key if key.isidentifier() else var
                if kind == "list":
                    self.cli_args.append(f"parser.add_argument({lit(n)}, nargs={lit('+')})")
                elif self.chance(0.6):
                    self.cli_args.append(f"parser.add_argument({lit(n)})")
                else:
                    self.cli_args.append(f"parser.add_argument({lit('--' + n.replace('_', '-'))}, required=True)")
                s.append(f"{var} = args.{n}")
                self.imp("argparse")
            elif mode == "argv":
                idx = 1 + sum(1 for x in s if "sys.argv[" in x)
                s.append(f"{var} = sys.argv[{idx}:]" if kind == "list" else f"{var} = sys.argv[{idx}]")
                self.imp("sys")
            elif mode == "env":
                s.append(self.pick([f"{var} = os.environ[{lit(envk)}]", f"{var} = os.getenv({lit(envk)}, {lit('')})",
                                    f"{var} = os.environ.get({lit(envk)}, {lit('')})"])
                         + (f".split({lit(',')})" if kind == "list" else ""))
                self.imp("os")
            else:
                s.append(f"{var} = input({lit(_camel(key) + ': ')}).strip()" + (".split()" if kind == "list" else ""))
            return var
        if fw == "socket":
            c = "self.request" if o["mode"] == "server" else o["conn"]
            if kind == "bytes":
                s.append(f"{var} = {c}.recv({self.pick(['65536', '1 << 20', '4096'])})")
            elif kind == "dict":
                s.append(f"{var} = json.loads({c}.recv(4096))")
                self.imp("json")
            else:
                s.append(f"{var} = {c}.recv({self.pick(['1024', '4096', '256'])}).decode().strip()"
                         + (".split()" if kind == "list" else ""))
            return var
        if fw == "worker":  # pika
            mv = self._shared.get("msg")
            if kind == "dict":
                s.append(f"{var} = json.loads(body)")
                self.imp("json")
                return var
            if mv is None:
                mv = self.pick(["msg", "message", "event", "job"])
                self._shared["msg"] = mv
                self.used.add(mv)
                s.append(f"{mv} = json.loads(body)")
                self.imp("json")
            s.append(f"{var} = {mv}[{k}]")
            return var
        raise ValueError(fw)

    def _http_body(self) -> None:
        if "body" not in self._shared:
            b = self.pick(["raw_body", "body_bytes", "posted"])
            self._shared["body"] = b
            self.used.add(b)
            self.setup.append(f"length = int(self.headers.get({self.lit('Content-Length')}, 0))")
            self.setup.append(f"{b} = self.rfile.read(length)")

    # ------------------------------------------------------------------ handles and helpers
    def handle(self, pool: list[str], local: list[list[str]] | None = None, module: list[str] | None = None,
               hint: str = "", imports: list[tuple] = ()) -> str:
        """A handle such as a db cursor or a client.

        lib: a parameter; method: `self.<name>`; otherwise one of the `local` setup options (lists of lines
        with `{n}` for the name) or a module-level global made by one of `module` (`{n} = ...` lines).
        """
        free = [n for n in pool if n not in self.used] or [pool[0] + "_h"]
        n = self.pick(free)
        self.used.add(n)
        fw = self.fw
        if fw == "lib" or (fw == "worker" and self.opt["mode"] == "celery" and not (local or module)):
            self.handles.append((n, hint))
            return n
        if fw == "method":
            self.handles.append((n, hint))
            return f"self.{n}"
        for i in imports:
            self.imp(*i)
        opts = []
        if local:
            opts += [("local", x) for x in local]
        if module:
            opts += [("module", x) for x in module]
        kind, lines = self.pick(opts)
        lines = [lines] if isinstance(lines, str) else list(lines)
        if any("{c}" in x for x in lines):
            c = self.pick([x for x in ["conn", "db_conn", "dbconn", "link", "dbh"] if x not in self.used])
            self.used.add(c)
            lines = [x.replace("{c}", c) for x in lines]
        for line in lines:
            if kind == "local":
                self.setup.append(line.replace("{n}", n))
            else:
                self.module.append((line.replace("{n}", n), False))
        return n

    def logger(self) -> str:
        if self._logger is None:
            if self.fw == "flask" and self.chance(0.4):
                self._logger = "current_app.logger"
                self.imp("flask", "current_app")
            else:
                self._logger = self.pick(["logger", "logger", "log", "_log"])
                self.imp("logging")
                self.module.insert(0, (f"{self._logger} = logging.getLogger("
                                       f"{self.pick(['__name__', self.lit('app')])})", False))
                self.used.add(self._logger)
        return self._logger

    def fail_lines(self, code: int = 400) -> list[str]:
        fw, r, lit = self.fw, self.opt.get("fail", 0.0), self.lit
        msg = lit({400: "invalid request", 403: "forbidden", 404: "not found"}.get(code, "invalid request"))
        if fw == "flask":
            self.imp("flask", "abort")
            if r < 0.6:
                return [f"abort({code})"]
            self.imp("flask", "jsonify")
            return [f"return jsonify(error={msg}), {code}"]
        if fw == "django":
            if code == 404 and r < 0.5:
                self.imp("django.http", "Http404")
                return ["raise Http404()"]
            if code == 403 and r < 0.5:
                self.imp("django.core.exceptions", "PermissionDenied")
                return ["raise PermissionDenied"]
            if r < 0.6:
                nm = {400: "HttpResponseBadRequest", 403: "HttpResponseForbidden", 404: "HttpResponseNotFound"}[code]
                self.imp("django.http", nm)
                return [f"return {nm}()"]
            self.imp("django.http", "JsonResponse")
            return [f"return JsonResponse({{{lit('error')}: {msg}}}, status={code})"]
        if fw == "fastapi":
            self.imp("fastapi", "HTTPException")
            return [f"raise HTTPException(status_code={code}, detail={msg})"]
        if fw == "aiohttp":
            self.imp("aiohttp", "web")
            return [f"raise web.{ {400: 'HTTPBadRequest', 403: 'HTTPForbidden', 404: 'HTTPNotFound'}[code] }()"]
        if fw == "httpserver":
            return [f"self.send_error({code})", "return"]
        if fw == "wsgi":
            st = {400: "400 Bad Request", 403: "403 Forbidden", 404: "404 Not Found"}[code]
            return [f"start_response({lit(st)}, [({lit('Content-Type')}, {lit('text/plain')})])",
                    f"return [{'b' + msg}]"]
        if fw == "cgi":
            self.imp("sys")
            st = {400: "400 Bad Request", 403: "403 Forbidden", 404: "404 Not Found"}[code]
            return [f"print({lit('Status: ' + st)})", "print()", "sys.exit(0)"]
        if fw == "cli":
            self.imp("sys")
            return [f"sys.exit({msg})"] if r < 0.6 else ["raise SystemExit(2)"]
        if fw == "socket":
            c = "self.request" if self.opt["mode"] == "server" else self.opt["conn"]
            return [f"{c}.sendall(b\"ERR\\n\")", "return"]
        if fw == "worker" and self.opt["mode"] == "pika":
            return ["channel.basic_reject(delivery_tag=method.delivery_tag, requeue=False)", "return"]
        exc = {400: "ValueError", 403: "PermissionError", 404: "LookupError"}[code]
        if r < 0.25:
            return ["return None"]
        return [f"raise {exc}({msg})"]

    # ------------------------------------------------------------------ rendering
    def _result_lines(self, res) -> list[tuple[int, str, bool]]:
        fw, r, lit = self.fw, self.rr, self.lit
        if res is None:
            res = ("none", None, False, {})
        kind, e, mark, kw = res
        out: list[tuple[int, str, bool]] = []
        if kind == "raw":
            return [(0, t, bool(m)) for t, m in kw["lines"]]

        def add(t, m=False):
            out.append((0, t, m))

        rk = kw.get("key") or r.choice(["result", "data", "items", "value", "status"])
        if kind == "data":
            if fw == "flask":
                c = r.random()
                if c < 0.4:
                    self.imp("flask", "jsonify")
                    add(f"return jsonify({{{lit(rk)}: {e}}})", mark)
                elif c < 0.7:
                    self.imp("flask", "jsonify")
                    add(f"return jsonify({rk}={e})", mark)
                else:
                    add(f"return {{{lit(rk)}: {e}}}", mark)
            elif fw == "django":
                self.imp("django.http", "JsonResponse")
                add(f"return JsonResponse({{{lit(rk)}: {e}}})", mark)
            elif fw == "fastapi":
                add(f"return {{{lit(rk)}: {e}}}", mark)
            elif fw == "aiohttp":
                self.imp("aiohttp", "web")
                add(f"return web.json_response({{{lit(rk)}: {e}}})", mark)
            elif fw == "httpserver":
                self.imp("json")
                add("self.send_response(200)")
                add(f"self.send_header({lit('Content-Type')}, {lit('application/json')})")
                add("self.end_headers()")
                add(f"self.wfile.write(json.dumps({{{lit(rk)}: {e}}}, default=str).encode())", mark)
            elif fw == "wsgi":
                self.imp("json")
                add(f"start_response({lit('200 OK')}, [({lit('Content-Type')}, {lit('application/json')})])")
                add(f"return [json.dumps({{{lit(rk)}: {e}}}, default=str).encode()]", mark)
            elif fw == "cgi":
                self.imp("json")
                add(f"print({lit('Content-Type: application/json')})")
                add("print()")
                add(f"print(json.dumps({{{lit(rk)}: {e}}}, default=str))", mark)
            elif fw == "cli":
                if r.random() < 0.5:
                    add(f"print({e})", mark)
                else:
                    self.imp("json")
                    add(f"print(json.dumps({e}, indent=2, default=str))", mark)
            elif fw == "socket":
                self.imp("json")
                if self.opt["mode"] == "server":
                    add(f"self.request.sendall(json.dumps({e}, default=str).encode())", mark)
                else:
                    add(f"{self.opt['conn']}.sendall(json.dumps({e}, default=str).encode())", mark)
            elif fw == "worker" and self.opt["mode"] == "pika":
                self.imp("json")
                add(f"channel.basic_publish(exchange={lit('')}, routing_key=properties.reply_to, "
                    f"body=json.dumps({e}, default=str))", mark)
                add("channel.basic_ack(delivery_tag=method.delivery_tag)")
            else:
                add(f"return {e}", mark)
            return out
        if kind in ("html", "text"):
            ctype = "text/html" if kind == "html" else "text/plain"
            if fw == "flask":
                c = r.random()
                if c < 0.4:
                    add(f"return {e}", mark)
                elif c < 0.7:
                    self.imp("flask", "make_response")
                    add(f"return make_response({e})", mark)
                else:
                    self.imp("flask", "Response")
                    add(f"return Response({e}, mimetype={lit(ctype)})", mark)
            elif fw == "django":
                self.imp("django.http", "HttpResponse")
                if kind == "text":
                    add(f"return HttpResponse({e}, content_type={lit(ctype)})", mark)
                else:
                    add(f"return HttpResponse({e})", mark)
            elif fw == "fastapi":
                nm = "HTMLResponse" if kind == "html" else "PlainTextResponse"
                self.imp("fastapi.responses", nm)
                add(f"return {nm}({e})" if r.random() < 0.6 else f"return {nm}(content={e})", mark)
            elif fw == "aiohttp":
                self.imp("aiohttp", "web")
                add(f"return web.Response(text={e}, content_type={lit(ctype)})", mark)
            elif fw == "httpserver":
                add("self.send_response(200)")
                add(f"self.send_header({lit('Content-Type')}, {lit(ctype + '; charset=utf-8')})")
                add("self.end_headers()")
                add(f"self.wfile.write({e}.encode())" if _SIMPLE_EXPR.match(e) else f"self.wfile.write(({e}).encode())",
                    mark)
            elif fw == "wsgi":
                add(f"start_response({lit('200 OK')}, [({lit('Content-Type')}, {lit(ctype)})])")
                add(f"return [{e}.encode()]" if _SIMPLE_EXPR.match(e) else f"return [({e}).encode()]", mark)
            elif fw == "cgi":
                add(f"print({lit('Content-Type: ' + ctype)})")
                add("print()")
                add(f"print({e})", mark)
            elif fw == "cli":
                add(f"print({e})", mark)
            elif fw == "socket":
                c = "self.request" if self.opt["mode"] == "server" else self.opt["conn"]
                add(f"{c}.sendall({e}.encode())" if _SIMPLE_EXPR.match(e) else f"{c}.sendall(({e}).encode())", mark)
            else:
                add(f"return {e}", mark)
            return out
        if kind == "redirect":
            if fw == "flask":
                self.imp("flask", "redirect")
                add(f"return redirect({e})" if r.random() < 0.7 else f"return redirect({e}, code=302)", mark)
            elif fw == "django":
                if r.random() < 0.5:
                    self.imp("django.shortcuts", "redirect")
                    add(f"return redirect({e})", mark)
                else:
                    self.imp("django.http", "HttpResponseRedirect")
                    add(f"return HttpResponseRedirect({e})", mark)
            elif fw == "fastapi":
                self.imp("fastapi.responses", "RedirectResponse")
                add(f"return RedirectResponse({e})" if r.random() < 0.6
                    else f"return RedirectResponse(url={e}, status_code=303)", mark)
            elif fw == "aiohttp":
                self.imp("aiohttp", "web")
                add(f"raise web.HTTPFound({e})" if r.random() < 0.6 else f"raise web.HTTPFound(location={e})", mark)
            elif fw == "httpserver":
                add("self.send_response(302)")
                add(f"self.send_header({lit('Location')}, {e})", mark)
                add("self.end_headers()")
            elif fw == "wsgi":
                add(f"start_response({lit('302 Found')}, [({lit('Location')}, {e})])", mark)
                add("return [b\"\"]")
            elif fw == "cgi":
                add(f"print({lit('Status: 302 Found')})")
                add(f"print({self.fmt(['Location: ', E(e)])})", mark)
                add("print()")
            else:
                raise ValueError(f"redirect result in {fw}")
            return out
        if kind == "header":
            hname, body = kw["name"], kw.get("body") or lit("ok")
            h = lit(hname)
            if fw == "flask":
                c = r.random()
                if c < 0.5:
                    self.imp("flask", "make_response")
                    add(f"resp = make_response({body})")
                    add(f"resp.headers[{h}] = {e}", mark)
                    add("return resp")
                elif c < 0.75:
                    add(f"return {body}, 200, {{{h}: {e}}}", mark)
                else:
                    self.imp("flask", "Response")
                    add(f"return Response({body}, headers={{{h}: {e}}})", mark)
            elif fw == "django":
                self.imp("django.http", "HttpResponse")
                add(f"response = HttpResponse({body})")
                add(f"response[{h}] = {e}" if r.random() < 0.6 else f"response.headers[{h}] = {e}", mark)
                add("return response")
            elif fw == "fastapi":
                if r.random() < 0.5:
                    self.imp("fastapi", "Response")
                    add(f"return Response(content={body}, headers={{{h}: {e}}})", mark)
                else:
                    self.imp("fastapi.responses", "PlainTextResponse")
                    add(f"response = PlainTextResponse({body})")
                    add(f"response.headers[{h}] = {e}", mark)
                    add("return response")
            elif fw == "aiohttp":
                self.imp("aiohttp", "web")
                if r.random() < 0.5:
                    add(f"return web.Response(text={body}, headers={{{h}: {e}}})", mark)
                else:
                    add(f"resp = web.Response(text={body})")
                    add(f"resp.headers[{h}] = {e}", mark)
                    add("return resp")
            elif fw == "httpserver":
                add("self.send_response(200)")
                add(f"self.send_header({h}, {e})", mark)
                add("self.end_headers()")
                add(f"self.wfile.write({body}.encode())")
            elif fw == "wsgi":
                add(f"start_response({lit('200 OK')}, [({lit('Content-Type')}, {lit('text/plain')}), ({h}, {e})])",
                    mark)
                add(f"return [{body}.encode()]")
            elif fw == "cgi":
                add(f"print({self.fmt([hname + ': ', E(e)])})", mark)
                add(f"print({lit('Content-Type: text/plain')})")
                add("print()")
                add(f"print({body})")
            else:
                raise ValueError(f"header result in {fw}")
            return out
        # none
        if fw == "flask":
            if r.random() < 0.5:
                add(f"return {lit('')}, 204")
            else:
                self.imp("flask", "jsonify")
                add(f"return jsonify(status={lit('ok')})")
        elif fw == "django":
            if r.random() < 0.5:
                self.imp("django.http", "HttpResponse")
                add("return HttpResponse(status=204)")
            else:
                self.imp("django.http", "JsonResponse")
                add(f"return JsonResponse({{{lit('status')}: {lit('ok')}}})")
        elif fw == "fastapi":
            add(f"return {{{lit('status')}: {lit('ok')}}}")
        elif fw == "aiohttp":
            self.imp("aiohttp", "web")
            add("return web.Response(status=204)" if r.random() < 0.5
                else f"return web.json_response({{{lit('status')}: {lit('ok')}}})")
        elif fw == "httpserver":
            add("self.send_response(204)")
            add("self.end_headers()")
        elif fw == "wsgi":
            add(f"start_response({lit('204 No Content')}, [])")
            add("return [b\"\"]")
        elif fw == "cgi":
            add(f"print({lit('Status: 204 No Content')})")
            add("print()")
        elif fw == "socket":
            c = "self.request" if self.opt["mode"] == "server" else self.opt["conn"]
            add(f"{c}.sendall(b\"OK\\n\")")
        elif fw == "worker" and self.opt["mode"] == "pika":
            add("channel.basic_ack(delivery_tag=method.delivery_tag)")
        elif fw in ("lib", "method", "worker") and r.random() < 0.4:
            add("return True")
        return out

    def _frame(self) -> tuple[list[tuple[int, str]], int, list[tuple[int, str]], list[str]]:
        """(head lines, body depth, tail lines, module lines placed before the head)."""
        fw, r, o, lit = self.fw, self.rr, self.opt, self.lit
        head: list[tuple[int, str]] = []
        tail: list[tuple[int, str]] = []
        mod: list[str] = []
        hints = self.style.hints
        post = bool(self.methods)
        noun = self.topic_noun
        if fw == "flask":
            app = o["app"]
            if o["show_app"]:
                if app == "app":
                    self.imp("flask", "Flask")
                    mod.append("app = Flask(__name__)")
                else:
                    self.imp("flask", "Blueprint")
                    mod.append(f"{app} = Blueprint({lit(noun + 's')}, __name__)")
            route = self.route + "".join(f"/<{p}>" for p in self.route_params)
            params = ", ".join(f"{p}: str" if hints else p for p in self.route_params)
            if o["class"]:
                self.imp("flask.views", "MethodView")
                head.append((0, f"class {_camel(noun)}View(MethodView):"))
                meth = "post" if post else "get"
                head.append((1, f"def {meth}(self{', ' + params if params else ''}):"))
                return head, 2, tail, mod
            if o["deco"] == "short":
                head.append((0, f"@{app}.{'post' if post else 'get'}({lit(route)})"))
            elif post:
                head.append((0, f"@{app}.route({lit(route)}, methods=[{lit('POST')}])"))
            else:
                head.append((0, f"@{app}.route({lit(route)})" if r.random() < 0.6
                             else f"@{app}.route({lit(route)}, methods=[{lit('GET')}])"))
            if o["login"]:
                self.imp("flask_login", "login_required")
                head.append((0, "@login_required"))
            head.append((0, f"def {self.fname}({params}):"))
            return head, 1, tail, mod
        if fw == "django":
            extra = "".join(f", {p}: str" if hints else f", {p}" for p in self.route_params)
            if o["class"]:
                self.imp("django.views", "View")
                head.append((0, f"class {_camel(noun)}View(View):"))
                head.append((1, f"def {'post' if post else 'get'}(self, request{extra}):"))
                return head, 2, tail, mod
            d = o["deco"]
            if d == "require_http_methods":
                self.imp("django.views.decorators.http", "require_http_methods")
                head.append((0, f"@require_http_methods([{lit('POST' if post else 'GET')}])"))
            elif d == "login_required":
                self.imp("django.contrib.auth.decorators", "login_required")
                head.append((0, "@login_required"))
            head.append((0, f"def {self.fname}(request{extra}):"))
            return head, 1, tail, mod
        if fw == "fastapi":
            app = o["app"]
            if o["show_app"]:
                if app == "app":
                    self.imp("fastapi", "FastAPI")
                    mod.append("app = FastAPI()")
                else:
                    self.imp("fastapi", "APIRouter")
                    mod.append("router = APIRouter()")
            route = self.route + "".join(f"/{{{p}}}" for p in self.route_params)
            params = [p for p in self.params if "=" not in p] + [p for p in self.params if "=" in p]
            if self.need_request:
                self.imp("fastapi", "Request")
                params.insert(0, "request: Request")
            head.append((0, f"@{app}.{'post' if post else 'get'}({lit(route)})"))
            a = "async " if (self.need_async or o["async"]) else ""
            head.append((0, f"{a}def {self.fname}({', '.join(params)}):"))
            return head, 1, tail, mod
        if fw == "aiohttp":
            self.imp("aiohttp", "web")
            if o["routes"]:
                mod.append("routes = web.RouteTableDef()")
                route = self.route + "".join(f"/{{{p}}}" for p in self.route_params)
                head.append((0, f"@routes.{'post' if post else 'get'}({lit(route)})"))
            hint = "(request: web.Request) -> web.Response" if hints else "(request)"
            head.append((0, f"async def {self.fname}{hint}:"))
            return head, 1, tail, mod
        if fw == "httpserver":
            self.imp("http.server", "BaseHTTPRequestHandler")
            head.append((0, f"class {_camel(noun)}Handler(BaseHTTPRequestHandler):"))
            head.append((1, f"def do_{'POST' if post else 'GET'}(self):"))
            return head, 2, tail, mod
        if fw == "wsgi":
            head.append((0, f"def {o['name']}(environ, start_response):"))
            return head, 1, tail, mod
        if fw == "cgi":
            if o["main"]:
                head.append((0, "def main():"))
                tail.append((0, 'if __name__ == "__main__":'))
                tail.append((1, "main()"))
                return head, 1, tail, mod
            return head, 0, tail, mod
        if fw == "cli":
            mode = o["mode"]
            if mode == "click":
                head.append((0, "@click.command()"))
                for a in self.cli_args:
                    head.append((0, a))
                head.append((0, f"def {self.fname if r.random() < 0.5 else 'main'}({', '.join(self.params)}):"))
                if o["guard"]:
                    tail.append((0, 'if __name__ == "__main__":'))
                    tail.append((1, head[-1][1].split("(")[0][4:] + "()"))
                return head, 1, tail, mod
            fn = "main" if r.random() < 0.7 else self.fname
            head.append((0, f"def {fn}(){' -> None' if hints else ''}:"))
            if self.cli_args:
                self.imp("argparse")
                pre = [f"parser = argparse.ArgumentParser({'description=' + lit(noun + ' tool') if r.random() < 0.4 else ''})"]
                pre += [a for a in self.cli_args if a.startswith("parser.")]
                pre.append("args = parser.parse_args()")
                self.setup[:0] = pre
            if o["guard"]:
                tail.append((0, 'if __name__ == "__main__":'))
                tail.append((1, f"{fn}()"))
            return head, 1, tail, mod
        if fw == "lib":
            params = [f"{n}: {h}" if (hints and h) else n for n, h in self.handles] + self.params
            a = "async " if self.need_async else ""
            head.append((0, f"{a}def {self.fname}({', '.join(params)}):"))
            return head, 1, tail, mod
        if fw == "method":
            head.append((0, f"class {o['cls']}:"))
            if o["init"] and self.handles:
                head.append((1, f"def __init__(self, {', '.join(n for n, _ in self.handles)}):"))
                for n, _ in self.handles:
                    head.append((2, f"self.{n} = {n}"))
                head.append((1, ""))
            a = "async " if self.need_async else ""
            head.append((1, f"{a}def {self.fname}(self{''.join(', ' + p for p in self.params)}):"))
            return head, 2, tail, mod
        if fw == "socket":
            if o["mode"] == "server":
                self.imp("socketserver")
                head.append((0, f"class {_camel(noun)}Handler(socketserver.BaseRequestHandler):"))
                head.append((1, "def handle(self):"))
                return head, 2, tail, mod
            c = o["conn"]
            head.append((0, f"def {o['fn']}({c}):"))
            return head, 1, tail, mod
        if fw == "worker":
            if o["mode"] == "celery":
                deco = o["task"]
                if deco == "@shared_task":
                    self.imp("celery", "shared_task")
                head.append((0, deco))
                params = [f"{n}: {h}" if (hints and h) else n for n, h in self.handles] + self.params
                head.append((0, f"def {self.fname}({', '.join(params)}):"))
                return head, 1, tail, mod
            head.append((0, f"def {o['fn']}"
                            f"(channel, method, properties, body):"))
            return head, 1, tail, mod
        raise ValueError(fw)

    def render(self, snip: Snip) -> tuple[str, list[int]]:
        head, depth, tail, mod = self._frame()
        body: list[tuple[int, str, bool]] = [(0, t, False) for t in self.setup]
        if body and self.style.blank and snip.lines:
            body.append((0, "", False))
        body += snip.lines
        body += self._result_lines(snip.result)
        if not body:
            body = [(0, "pass", False)]
        lines: list[tuple[int, str, bool]] = []
        if self.style.imports and self.imports:
            plain = sorted(m for m, v in self.imports.items() if v is None)
            froms = sorted((m, sorted(v)) for m, v in self.imports.items() if v is not None)
            for m in plain:
                lines.append((0, f"import {m}", False))
            for m, names in froms:
                lines.append((0, f"from {m} import {', '.join(names)}", False))
            lines.append((0, "", False))
        module = [(m, False) for m in mod] + [m if isinstance(m, tuple) else (m, False) for m in self.module]
        if module:
            for m, mk in module:
                lines.append((0, m, mk))
            lines.append((0, "", False))
            if head and head[0][1].startswith(("class ", "def ", "@", "async ")):
                lines.append((0, "", False))
        for d, t in head:
            lines.append((d, t, False))
        for d, t, m in body:
            lines.append((depth + d, t, m))
        if tail:
            lines.append((0, "", False))
            lines.append((0, "", False))
            for d, t in tail:
                lines.append((d, t, False))
        unit = " " * self.style.indent
        text_lines = []
        vuln = []
        for i, (d, t, m) in enumerate(lines, 1):
            text_lines.append((unit * d + t) if t else "")
            if m:
                vuln.append(i)
        return "\n".join(text_lines) + "\n", vuln


# ---------------------------------------------------------------------- example drivers
def example(code: str, cwe: str | None, vuln_lines: list[int], family: str, pair: str | None, kind: str) -> dict:
    return {"code": code, "cwe": cwe, "vuln_lines": list(vuln_lines), "family": family, "pair": pair, "kind": kind}


def make_pairs(rng: random.Random, family: str, cwe: str, template, n: int, seen: set[str]) -> list[dict]:
    """`n` vulnerable examples of `template`, each with its fixed twin (same seed, ctx.fixed=True)."""
    out = []
    for i in range(n):
        for _ in range(40):
            seed = rng.getrandbits(48)
            cv = Ctx(seed, fixed=False)
            code_v, lines_v = cv.render(template(cv))
            if code_v in seen or not lines_v:
                continue
            cf = Ctx(seed, fixed=True)
            code_f, lines_f = cf.render(template(cf))
            if code_f == code_v or code_f in seen:
                continue
            break
        else:
            continue
        seen.add(code_v)
        seen.add(code_f)
        pair = f"{family}/{i:03d}"
        out.append(example(code_v, cwe, lines_v, family, pair, "vuln"))
        out.append(example(code_f, None, [], family, pair, "fix"))
    return out


def make_negatives(rng: random.Random, family: str, template, n: int, seen: set[str]) -> list[dict]:
    """`n` hard negatives: the risky API used safely (rendered with ctx.fixed=True, no marks)."""
    out = []
    for _ in range(n):
        for _ in range(40):
            seed = rng.getrandbits(48)
            c = Ctx(seed, fixed=True)
            code, _lines = c.render(template(c))
            if code not in seen:
                break
        else:
            continue
        seen.add(code)
        out.append(example(code, None, [], family, None, "hard-negative"))
    return out


def generate_from_tables(rng: random.Random, pairs, negatives) -> list[dict]:
    """Run a module's template tables: `pairs` of (cwe, family, template, n) give vulnerable/fixed
    twins, `negatives` of (family, template, n) give hard negatives; duplicates are dropped."""
    seen: set[str] = set()
    out: list[dict] = []
    for cwe, fam, tpl, n in pairs:
        out += make_pairs(rng, fam, cwe, tpl, n, seen)
    for fam, tpl, n in negatives:
        out += make_negatives(rng, fam, tpl, n, seen)
    return out
