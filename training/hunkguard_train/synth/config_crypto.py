"""Synthetic examples for configuration / crypto / web-hardening CWEs, plus benign application code.

`generate(rng)` returns records as described in training/CONTRACT.md:

* for each label in `LABELS`: vulnerable examples, each with a fixed twin (`kind` "vuln" / "fix", the
  same `pair`), and hard negatives (`kind` "hard-negative", `cwe` None) that use the same APIs safely;
* benign application code (`family` "benign/<template>", `kind` "hard-negative", `cwe` None).

Templates fill a small line builder (`_B`): shared lines, `v()` chunks that differ between the twins and
hold the weakness (their lines become `vuln_lines` in the vulnerable twin), `d()` chunks that differ but
are not the weakness (imports, helper lines of the fix) and `m()` lines shared by both twins that are the
sink of the weakness (marked in the vulnerable twin only).
"""
from __future__ import annotations

import random
import re
import string
from contextlib import contextmanager

# ------------------------------------------------------------------------------------------ builder
_PH = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)")


class _B:
    """Line builder for one example pair; `$name` / `${name}` are filled from `ctx`."""

    def __init__(self, **ctx):
        self.items: list[tuple] = []
        self.pad = ""
        self.ctx = dict(ctx)

    def fmt(self, text: str) -> str:
        def sub(m):
            if m.group(0) == "$$":
                return "$"
            key = m.group(1) or m.group(2)
            if key in self.ctx:
                return str(self.ctx[key])
            if key[0].isdigit():
                return m.group(0)
            raise KeyError(f"template placeholder ${key} not set")

        return _PH.sub(sub, text)

    def _ls(self, xs) -> list[str]:
        if xs is None:
            return []
        if isinstance(xs, str):
            xs = [xs]
        out: list[str] = []
        for chunk in xs:
            for line in self.fmt(chunk).split("\n"):
                out.append(self.pad + line if line.strip() else "")
        return out

    def __call__(self, *xs):
        self.items.append(("s", self._ls(list(xs)), [], None))
        return self

    def v(self, vuln, fix, marks=None):
        """Differs between twins; the vulnerable lines (or those at `marks`) are the weakness."""
        self.items.append(("v", self._ls(vuln), self._ls(fix), marks))
        return self

    def d(self, vuln, fix):
        """Differs between twins, not itself the weakness (imports, helper lines of the fix)."""
        self.items.append(("d", self._ls(vuln), self._ls(fix), None))
        return self

    def m(self, *xs):
        """Shared by both twins, but the sink of the weakness: marked in the vulnerable twin."""
        self.items.append(("m", self._ls(list(xs)), [], None))
        return self

    def osimp(self, rng: random.Random, p: float = 0.5, line: str = "import os"):
        """`import os` needed by the fix: sometimes already there in both twins, else only in the fix."""
        if rng.random() < p:
            self(line)
        else:
            self.d([], line)
        return self

    @contextmanager
    def ind(self, n: int = 1):
        old = self.pad
        self.pad = old + "    " * n
        try:
            yield self
        finally:
            self.pad = old

    def render(self, vuln: bool) -> tuple[str, list[int]]:
        out: list[str] = []
        marks: list[int] = []
        for kind, a, c, mk in self.items:
            if kind == "s":
                seq, flag = a, None
            elif kind == "m":
                seq, flag = a, ("all" if vuln else None)
            elif kind == "v":
                seq = a if vuln else c
                flag = (mk if mk is not None else "all") if vuln else None
            else:
                seq, flag = (a if vuln else c), None
            for i, line in enumerate(seq):
                out.append(line)
                if flag == "all" or (isinstance(flag, (list, tuple)) and i in flag):
                    marks.append(len(out))
        while out and not out[-1].strip():
            out.pop()
        lead = 0
        while lead < len(out) and not out[lead].strip():
            lead += 1
        out = out[lead:]
        marks = [m - lead for m in marks]
        out = _sort_import_runs(out, set(marks))
        collapsed: list[str] = []
        remap: dict[int, int] = {}
        for i, line in enumerate(out, 1):
            if not line.strip() and len(collapsed) >= 2 and not collapsed[-1].strip() and not collapsed[-2].strip():
                continue
            collapsed.append(line)
            remap[i] = len(collapsed)
        return "\n".join(collapsed) + "\n", sorted({remap[m] for m in marks if m in remap})


def _sort_import_runs(lines: list[str], marked: set[int]) -> list[str]:
    """isort-like: sort each run of consecutive top-level `import x` (or `from x import y`) lines."""
    out = list(lines)
    i = 0
    while i < len(out):
        kind = "import " if out[i].startswith("import ") else "from " if out[i].startswith("from ") else None
        j = i
        while kind and j < len(out) and out[j].startswith(kind):
            j += 1
        if kind and j - i > 1 and not any(i < m <= j for m in marked):
            out[i:j] = sorted(out[i:j], key=lambda l: l.lower().replace(".", " "))
        i = max(j, i + 1)
    return out


def _restyle_quotes(code: str) -> str:
    """Single quotes instead of double quotes, for code where that cannot change a literal's meaning."""
    if "'" in code or '\\' in code or '"""' in code:
        return code
    return code.replace('"', "'")


# ------------------------------------------------------------------------------------------ name pools
_ENTS = ["invoice", "order", "report", "account", "project", "ticket", "device", "customer", "shipment",
         "booking", "profile", "document", "asset", "payment", "subscription", "member", "course",
         "article", "vendor", "warehouse", "recipe", "sensor", "claim", "lead", "campaign", "contract",
         "employee", "listing", "review", "team", "coupon", "station", "patient", "tenant", "vehicle"]
_SVCS = ["billing", "inventory", "analytics", "payments", "crm", "search", "notify", "metrics", "ledger",
         "catalog", "shipping", "support", "audit", "reporting", "geo", "mailer", "scheduler", "pricing",
         "identity", "media", "loyalty", "fleet", "payroll", "booking"]
_DOMAINS = ["example.com", "example.org", "acme-corp.com", "internal.example.net", "corp.example.io",
            "northwind.dev", "contoso.net", "initech.io", "globex.example", "umbrella-labs.net"]
_FIELDS = ["name", "title", "status", "notes", "priority", "region", "owner", "category", "description",
           "reference", "label", "currency", "quantity", "amount", "email", "phone", "country", "tier"]
_WORDS = ["Summer", "Winter", "Falcon", "Orchid", "Pelican", "Granite", "Harbor", "Maple", "Copper",
          "Nimbus", "Quartz", "Saffron", "Tundra", "Velvet", "Zephyr", "Atlas", "Cobalt", "Juniper",
          "Marlin", "Sierra", "Bramble", "Lantern"]
_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
_UPNUM = string.ascii_uppercase + string.digits
_B64 = _ALNUM + "+/"
_SYMS = "!@#%^&*-_+=?."


_AVOID = re.compile(r"(?i)bad|safe|secur|vuln|good|evil|attack|exploit|danger|weak|hack|fix|cwe|patch")


def _rs(rng: random.Random, n: int, alphabet: str = _ALNUM) -> str:
    """Random string (fake secrets); never one that happens to spell a label-revealing word."""
    while True:
        out = "".join(rng.choice(alphabet) for _ in range(n))
        if not _AVOID.search(out):
            return out


def _password(rng: random.Random) -> str:
    w1, w2 = rng.sample(_WORDS, 2)
    form = rng.randrange(5)
    if form == 0:
        return f"{w1}{rng.randint(2015, 2025)}{rng.choice(_SYMS)}"
    if form == 1:
        return f"{w1.lower()}_{w2.lower()}{rng.randint(10, 999)}"
    if form == 2:
        return _rs(rng, rng.randint(12, 20), _ALNUM + _SYMS)
    if form == 3:
        return f"{w1}{rng.choice(_SYMS)}{rng.randint(100, 9999)}{w2}"
    return f"{w1[0]}{_rs(rng, 3, string.digits)}{w2.lower()}{rng.choice(_SYMS)}{_rs(rng, 4)}"


def _api_key(rng: random.Random) -> str:
    form = rng.randrange(8)
    if form == 0:
        return "sk_live_" + _rs(rng, rng.choice([24, 32]))
    if form == 1:
        return "ghp_" + _rs(rng, 36)
    if form == 2:
        return f"xoxb-{_rs(rng, 11, string.digits)}-{_rs(rng, 12, string.digits)}-{_rs(rng, 24)}"
    if form == 3:
        return f"SG.{_rs(rng, 22)}.{_rs(rng, 43)}"
    if form == 4:
        return _rs(rng, rng.choice([32, 40, 64]), _HEX)
    if form == 5:
        return _rs(rng, rng.choice([32, 40]), _ALNUM + "-_")
    if form == 6:
        return "pk_" + _rs(rng, 8, _HEX) + "." + _rs(rng, 30)
    return _rs(rng, 8, _HEX) + "-" + _rs(rng, 4, _HEX) + "-" + _rs(rng, 4, _HEX) + "-" + _rs(rng, 12, _HEX)


def _ctx(rng: random.Random, **extra) -> dict:
    ent = rng.choice(_ENTS)
    svc = rng.choice(_SVCS)
    dom = rng.choice(_DOMAINS)
    c = dict(ent=ent, Ent=ent.capitalize(), ents=ent + "s", svc=svc, Svc=svc.capitalize(), SVC=svc.upper(),
             dom=dom, host=f"{rng.choice(['api', svc, svc + '-api', 'gateway', 'edge'])}.{dom}",
             field=rng.choice(_FIELDS), n=rng.choice([5, 10, 15, 20, 30]), v=rng.choice([1, 2, 3]))
    c.update(extra)
    return c


# ------------------------------------------------------------------------------------------ web frameworks
class _W:
    """One web framework's spelling of app object, routes, request access and replies."""

    def __init__(self, rng: random.Random, fws=("flask", "django", "fastapi", "aiohttp")):
        self.fw = rng.choice(list(fws))
        self.is_async = self.fw in ("fastapi", "aiohttp")
        self.app = {"flask": rng.choice(["app", "bp"]), "fastapi": rng.choice(["app", "router"]),
                    "aiohttp": "routes", "django": ""}[self.fw]
        self.json_style = rng.randrange(3)
        self.route_style = rng.randrange(2)
        self.log = rng.choice(["logger", "log"])

    def head(self, b: _B, flask=(), fastapi=(), django=(), aiohttp=(), app_name: str = "$svc"):
        if self.fw == "flask":
            names = ["Flask" if self.app == "app" else "Blueprint", "jsonify", "request", *flask]
            b(f"from flask import {', '.join(sorted(set(names), key=names.index))}")
        elif self.fw == "django":
            b("from django.http import JsonResponse")
            for line in django:
                b(line)
        elif self.fw == "fastapi":
            names = ["FastAPI" if self.app == "app" else "APIRouter", "Request", *fastapi]
            b(f"from fastapi import {', '.join(sorted(set(names), key=names.index))}")
        else:
            b("from aiohttp import web")
            for line in aiohttp:
                b(line)

    def app_line(self, b: _B):
        if self.fw == "flask":
            b("app = Flask(__name__)" if self.app == "app" else 'bp = Blueprint("$ents", __name__)')
        elif self.fw == "fastapi":
            b("app = FastAPI()" if self.app == "app" else 'router = APIRouter(prefix="/$ents")')
        elif self.fw == "aiohttp":
            b("routes = web.RouteTableDef()")

    def route(self, b: _B, method: str, path: str, fname: str, params: str = "", decorators=()):
        """Decorators and def line. `path` uses {name} segments; `params` are extra function params."""
        m = method.lower()
        path, fname = b.fmt(path), b.fmt(fname)
        if self.fw == "fastapi" and self.app == "router":
            prefix = "/" + str(b.ctx.get("ents", ""))
            if path.startswith(prefix + "/"):
                path = path[len(prefix):]
        if self.fw == "flask":
            fpath = re.sub(r"\{(\w+)\}", r"<int:\1>", path)
            if self.route_style:
                b(f'@{self.app}.{m}("{fpath}")')
            else:
                b(f'@{self.app}.route("{fpath}", methods=["{method.upper()}"])')
            for d in decorators:
                b(d)
            names = re.findall(r"\{(\w+)\}", path)
            b(f"def {fname}({', '.join(names)}):")
        elif self.fw == "django":
            b("@require_POST" if m == "post" else f'@require_http_methods(["{method.upper()}"])')
            for d in decorators:
                b(d)
            names = re.findall(r"\{(\w+)\}", path)
            b(f"def {fname}({', '.join(['request', *names])}):")
        elif self.fw == "fastapi":
            b(f'@{self.app}.{m}("{path}")')
            for d in decorators:
                b(d)
            names = [f"{n}: int" for n in re.findall(r"\{(\w+)\}", path)]
            extra = [params] if params else []
            b(f"async def {fname}({', '.join(['request: Request', *names, *extra])}):")
        else:
            b(f'@routes.{m}("{path}")')
            for d in decorators:
                b(d)
            b(f"async def {fname}(request):")
            for n in re.findall(r"\{(\w+)\}", path):
                b(f'    {n} = int(request.match_info["{n}"])')

    def django_imports(self, method: str) -> str:
        return ("from django.views.decorators.http import require_POST" if method.lower() == "post"
                else "from django.views.decorators.http import require_http_methods")

    def json(self) -> str:
        if self.fw == "flask":
            return ["request.get_json()", "request.get_json(force=True)", "request.json"][self.json_style]
        if self.fw == "django":
            return "json.loads(request.body)"
        return "await request.json()"

    def reply(self, expr: str, status: int | None = None) -> str:
        if self.fw == "flask":
            return f"return jsonify({expr})" + (f", {status}" if status else "")
        if self.fw == "django":
            return f"return JsonResponse({expr}" + (f", status={status})" if status else ")")
        if self.fw == "fastapi":
            return f"return JSONResponse({expr}, status_code={status})" if status else f"return {expr}"
        return f"return web.json_response({expr}" + (f", status={status})" if status else ")")

    def std_imports(self, b: _B, method: str = "post", need_json: bool = True, extra=()):
        """Framework imports for a JSON handler module (after stdlib imports the template wrote)."""
        if self.fw == "django":
            self.head(b, django=[self.django_imports(method), *extra])
        elif self.fw == "fastapi":
            self.head(b)
            b("from fastapi.responses import JSONResponse")
        else:
            self.head(b)


# ================================================================================ CWE-798 hard-coded credentials
def _dbhost(rng, c):
    return rng.choice([f"{c['svc']}-db.{c['dom']}", f"db.{c['dom']}", "postgres", "mysql",
                       f"10.{rng.randint(0, 30)}.{rng.randint(0, 255)}.{rng.randint(2, 250)}"])


def _c798_db(rng):
    c = _ctx(rng)
    c.update(pw=_password(rng), upw=_rs(rng, rng.randint(14, 22)), user=rng.choice(
        ["app", f"{c['svc']}_app", "reporting", "etl", "webapp", "readonly", c["svc"]]),
        dbname=rng.choice([c["svc"], f"{c['svc']}_prod", f"{c['ent']}_store", "main"]), dbhost=_dbhost(rng, c),
        envpw=rng.choice(["DB_PASSWORD", "DATABASE_PASSWORD", f"{c['SVC']}_DB_PASSWORD", "PGPASSWORD", "MYSQL_PASSWORD"]))
    b = _B(**c)
    driver = rng.choice(["psycopg2", "pymysql", "mysql.connector", "sqlalchemy"])
    if driver == "sqlalchemy":
        b.osimp(rng)
        b("", "from sqlalchemy import create_engine, text", "")
        b.v('engine = create_engine("postgresql+psycopg2://$user:$upw@$dbhost:5432/$dbname", pool_pre_ping=True)',
            rng.choice(['engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)',
                        'engine = create_engine(\n    f"postgresql+psycopg2://$user:{os.environ[\'$envpw\']}@$dbhost:5432/$dbname",\n'
                        '    pool_pre_ping=True,\n)']))
        b("", "")
        b("def count_$ents(status):")
        with b.ind():
            b("with engine.connect() as conn:")
            b('    query = text("SELECT count(*) FROM $ents WHERE status = :status")')
            b('    return conn.execute(query, {"status": status}).scalar()')
        return b
    imp = {"psycopg2": "import psycopg2", "pymysql": "import pymysql", "mysql.connector": "import mysql.connector"}[driver]
    kw_db = "dbname" if driver == "psycopg2" else "database"
    tail = {"psycopg2": "connect_timeout=5", "pymysql": 'charset="utf8mb4"', "mysql.connector": "autocommit=False"}[driver]
    cname = "get_connection"
    if rng.random() < 0.5:
        host_env = rng.random() < 0.6
        if host_env:
            b("import os", "")
        else:
            b.osimp(rng)
            b("")
        b(imp, "")
        b('DB_HOST = os.environ.get("DB_HOST", "$dbhost")' if host_env else 'DB_HOST = "$dbhost"')
        b('DB_NAME = "$dbname"', 'DB_USER = "$user"')
        b.v('DB_PASSWORD = "$pw"', rng.choice(['DB_PASSWORD = os.environ["$envpw"]', 'DB_PASSWORD = os.environ.get("$envpw")']))
        b("", "")
        b("def get_connection():")
        b(f"    return {driver}.connect(host=DB_HOST, {kw_db}=DB_NAME, user=DB_USER, password=DB_PASSWORD, {tail})")
    else:
        cname = rng.choice(["get_connection", "connect_$svc", "open_db"])
        b.osimp(rng)
        b("")
        b(imp, "", "")
        b(f"def {cname}():")
        with b.ind():
            b(f"return {driver}.connect(")
            b('    host="$dbhost",', f'    {kw_db}="$dbname",', '    user="$user",')
            b.v('    password="$pw",', '    password=os.environ["$envpw"],')
            b(f"    {tail},", ")")
    b("", "")
    b("def fetch_$ent(${ent}_id):")
    with b.ind():
        b(f"conn = {cname}()")
        b("try:")
        b("    with conn.cursor() as cur:")
        b('        cur.execute("SELECT id, $field FROM $ents WHERE id = %s", (${ent}_id,))')
        b("        return cur.fetchone()")
        b("finally:")
        b("    conn.close()")
    return b


def _c798_api(rng):
    c = _ctx(rng, key=_api_key(rng))
    c["env"] = rng.choice([f"{c['SVC']}_API_KEY", f"{c['SVC']}_TOKEN", f"{c['SVC']}_API_TOKEN"])
    b = _B(**c)
    lib = rng.choice(["requests", "httpx"])
    style = rng.choice(["class", "func", "init"])
    hdr = rng.choice(['{"Authorization": f"Bearer {%s}"}', '{"X-Api-Key": %s}', '{"Authorization": f"Token {%s}"}'])
    b.osimp(rng)
    b("", f"import {lib}", "")
    if style == "func":
        name = rng.choice(["API_TOKEN", "API_KEY", "${SVC}_KEY", "AUTH_TOKEN"])
        b('BASE_URL = "https://$host/v$v"')
        b.v(f'{name} = "$key"', rng.choice([f'{name} = os.environ["$env"]', f'{name} = os.getenv("$env")']))
        b("", "")
        b("def list_$ents(page=1, per_page=$n):")
        with b.ind():
            b("headers = " + hdr % name)
            b(f'resp = {lib}.get(f"{{BASE_URL}}/$ents", params={{"page": page, "per_page": per_page}}, headers=headers, timeout=10)')
            b("resp.raise_for_status()")
            b(rng.choice(['return resp.json()["data"]', "return resp.json()"]))
        return b
    b("class ${Svc}Client:")
    with b.ind():
        b('BASE_URL = "https://$host/v$v"')
        if style == "class":
            b.v('API_KEY = "$key"', 'API_KEY = os.environ["$env"]')
            b("")
            b("def __init__(self, timeout=$n):")
            keyexpr = "self.API_KEY"
        else:
            b("")
            b.v('def __init__(self, api_key="$key", timeout=$n):', "def __init__(self, api_key=None, timeout=$n):")
            b.d("    self.api_key = api_key", '    self.api_key = api_key or os.environ["$env"]')
            keyexpr = "self.api_key"
        with b.ind():
            if lib == "requests":
                b("self.session = requests.Session()")
                b("self.session.headers.update(" + hdr % keyexpr + ")")
            else:
                b("self.client = httpx.Client(base_url=self.BASE_URL, headers=" + hdr % keyexpr + ", timeout=timeout)")
            b("self.timeout = timeout")
        b("")
        b("def get_$ent(self, ${ent}_id):")
        with b.ind():
            if lib == "requests":
                b('resp = self.session.get(f"{self.BASE_URL}/$ents/{${ent}_id}", timeout=self.timeout)')
            else:
                b('resp = self.client.get(f"/$ents/{${ent}_id}")')
            b("resp.raise_for_status()")
            b("return resp.json()")
    return b


def _c798_sdk(rng):
    c = _ctx(rng)
    b = _B(**c)
    kind = rng.choice(["boto3", "stripe", "slack", "github", "sendgrid", "twilio"])
    b.osimp(rng)
    if kind == "boto3":
        b.ctx.update(akid="AKIA" + _rs(rng, 16, _UPNUM), sak=_rs(rng, 40, _B64),
                     region=rng.choice(["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2"]),
                     bucket=f"{c['svc']}-{rng.choice(['exports', 'backups', 'uploads', 'archive'])}")
        b("", "import boto3", "", "")
        b("def upload_${ent}_export(path, key):")
        with b.ind():
            b("s3 = boto3.client(", '    "s3",', '    region_name="$region",')
            b.v(['    aws_access_key_id="$akid",', '    aws_secret_access_key="$sak",'],
                rng.choice([[], ['    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],',
                                 '    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],']]))
            b(")")
            b('s3.upload_file(path, "$bucket", key)')
            b('return f"s3://$bucket/{key}"')
        return b
    if kind == "stripe":
        b.ctx["key"] = rng.choice(["sk_live_", "rk_live_"]) + _rs(rng, rng.choice([24, 32, 48]))
        b("", "import stripe", "")
        b.v('stripe.api_key = "$key"', rng.choice(['stripe.api_key = os.environ["STRIPE_SECRET_KEY"]',
                                                    'stripe.api_key = os.environ.get("STRIPE_API_KEY")']))
        b("", "")
        b("def charge_$ent($ent, amount_cents, currency=\"usd\"):")
        with b.ind():
            b("return stripe.PaymentIntent.create(")
            b("    amount=amount_cents,", "    currency=currency,", '    metadata={"${ent}_id": str($ent.id)},', ")")
        return b
    if kind == "slack":
        b.ctx["key"] = f"xoxb-{_rs(rng, 11, string.digits)}-{_rs(rng, 13, string.digits)}-{_rs(rng, 24)}"
        b("", "from slack_sdk import WebClient", "")
        b.v('client = WebClient(token="$key")', 'client = WebClient(token=os.environ["SLACK_BOT_TOKEN"])')
        b("", "")
        b('def notify_channel(text, channel="#$svc-alerts"):')
        b('    response = client.chat_postMessage(channel=channel, text=text)')
        b('    return response["ts"]')
        return b
    if kind == "github":
        b.ctx["key"] = rng.choice(["ghp_", "github_pat_"]) + _rs(rng, 36)
        b("", "from github import Github", "", "")
        b("def open_issue(repo_name, title, body, labels=()):")
        with b.ind():
            b.v('gh = Github("$key")', rng.choice(['gh = Github(os.environ["GITHUB_TOKEN"])', 'gh = Github(os.getenv("GH_TOKEN"))']))
            b("repo = gh.get_repo(repo_name)")
            b("issue = repo.create_issue(title=title, body=body, labels=list(labels))")
            b("return issue.number")
        return b
    if kind == "sendgrid":
        b.ctx["key"] = f"SG.{_rs(rng, 22)}.{_rs(rng, 43)}"
        b("", "from sendgrid import SendGridAPIClient", "from sendgrid.helpers.mail import Mail", "", "")
        b("def send_${ent}_notice(to_email, name):")
        with b.ind():
            b("message = Mail(")
            b('    from_email="no-reply@$dom",', "    to_emails=to_email,", '    subject="Your $ent was updated",')
            b('    plain_text_content=f"Hello {name}, your $ent has changed.",', ")")
            b.v('client = SendGridAPIClient("$key")', 'client = SendGridAPIClient(os.environ["SENDGRID_API_KEY"])')
            b("return client.send(message).status_code")
        return b
    b.ctx.update(sid="AC" + _rs(rng, 32, _HEX), tok=_rs(rng, 32, _HEX), phone=f"+1555{_rs(rng, 7, string.digits)}")
    b("", "from twilio.rest import Client", "", "")
    b("def send_sms(to_number, body):")
    with b.ind():
        b.v('client = Client("$sid", "$tok")',
            'client = Client(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"])')
        b('message = client.messages.create(to=to_number, from_="$phone", body=body)')
        b("return message.sid")
    return b


def _c798_settings(rng):
    c = _ctx(rng)
    c.update(sk=_rs(rng, 50, _ALNUM + "!@#%^&*(-_=+)"), pw=_password(rng), mpw=_password(rng),
             user=rng.choice(["app", c["svc"], "django"]), dbname=rng.choice([c["svc"], f"{c['svc']}_db"]))
    b = _B(**c)
    target = rng.choice(["secret", "db", "mail"])
    if rng.random() < 0.5:
        b("import os", "from pathlib import Path", "")
        b("BASE_DIR = Path(__file__).resolve().parent.parent")
        lines = {
            "secret": ('SECRET_KEY = "$sk"', rng.choice(['SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]',
                                                          'SECRET_KEY = os.environ["SECRET_KEY"]'])),
        }
        if target == "secret":
            b.v(*lines["secret"])
        else:
            b(lines["secret"][1])
        b('DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"')
        b('ALLOWED_HOSTS = ["$host"]')
        b("", "DATABASES = {", '    "default": {', '        "ENGINE": "django.db.backends.postgresql",')
        b('        "NAME": "$dbname",', '        "USER": "$user",')
        if target == "db":
            b.v('        "PASSWORD": "$pw",', '        "PASSWORD": os.environ["DB_PASSWORD"],')
        else:
            b('        "PASSWORD": os.environ["DB_PASSWORD"],')
        b('        "HOST": os.environ.get("DB_HOST", "localhost"),', '        "PORT": "5432",', "    }", "}")
        if target == "mail" or rng.random() < 0.5:
            b("", 'EMAIL_HOST = "smtp.$dom"', "EMAIL_PORT = 587", 'EMAIL_HOST_USER = "no-reply@$dom"')
            if target == "mail":
                b.v('EMAIL_HOST_PASSWORD = "$mpw"', 'EMAIL_HOST_PASSWORD = os.environ["EMAIL_HOST_PASSWORD"]')
            else:
                b('EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")')
            b("EMAIL_USE_TLS = True")
        return b
    b("import os", "", "")
    b(rng.choice(["class Config:", "class BaseConfig:", "class ProductionConfig:"]))
    with b.ind():
        b('SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", "sqlite:///$svc.db")')
        b("SQLALCHEMY_TRACK_MODIFICATIONS = False")
        if target == "secret":
            b.v('SECRET_KEY = "$sk"', 'SECRET_KEY = os.environ["SECRET_KEY"]')
        else:
            b('SECRET_KEY = os.environ["SECRET_KEY"]')
        b('MAIL_SERVER = "smtp.$dom"', "MAIL_PORT = 587", "MAIL_USE_TLS = True", 'MAIL_USERNAME = "no-reply@$dom"')
        if target in ("mail", "db"):
            b.v('MAIL_PASSWORD = "$mpw"', 'MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")')
        else:
            b('MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")')
        b("${SVC}_PAGE_SIZE = $n")
    return b


def _c798_signing(rng):
    c = _ctx(rng, key=_rs(rng, rng.choice([32, 40, 48]), _ALNUM + "-_"), hkey=_rs(rng, 64, _HEX))
    b = _B(**c)
    kind = rng.choice(["jwt", "hmac", "itsdangerous", "flask"])
    if kind == "jwt":
        b.osimp(rng)
        b("from datetime import datetime, timedelta, timezone", "", "import jwt", "")
        name = rng.choice(["JWT_SECRET", "SIGNING_KEY", "TOKEN_SECRET", "JWT_KEY"])
        b.v(f'{name} = "$key"', rng.choice([f'{name} = os.environ["{name}"]', f'{name} = os.environ["${{SVC}}_{name}"]']))
        b("", "")
        b("def issue_token(user_id, minutes=$n):")
        with b.ind():
            b("now = datetime.now(timezone.utc)")
            b('message = {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=minutes)}')
            b(f'return jwt.encode(message, {name}, algorithm="HS256")')
        return b
    if kind == "hmac":
        b("import hashlib", "import hmac")
        b.osimp(rng)
        b("")
        name = rng.choice(["WEBHOOK_SECRET", "SIGNATURE_KEY", "${SVC}_WEBHOOK_KEY"])
        b.v(f'{name} = b"$hkey"', rng.choice([f'{name} = os.environ["WEBHOOK_SECRET"].encode()',
                                               f'{name} = os.environb[b"WEBHOOK_SECRET"]']))
        b("", "")
        b("def verify_signature(body: bytes, signature: str) -> bool:")
        b(f"    expected = hmac.new({name}, body, hashlib.sha256).hexdigest()")
        b("    return hmac.compare_digest(expected, signature)")
        return b
    if kind == "itsdangerous":
        b.osimp(rng)
        b("", "from itsdangerous import SignatureExpired, TimestampSigner", "")
        b.v('signer = TimestampSigner("$key", salt="$ent-confirm")',
            'signer = TimestampSigner(os.environ["SECRET_KEY"], salt="$ent-confirm")')
        b("", "")
        b("def make_confirm_token(email):", "    return signer.sign(email).decode()", "", "")
        b("def read_confirm_token(token, max_age=3600):")
        b("    try:", "        return signer.unsign(token, max_age=max_age).decode()", "    except SignatureExpired:", "        return None")
        return b
    b("import os", "", "from flask import Flask, session", "", "app = Flask(__name__)")
    b.v(rng.choice(['app.secret_key = "$key"', 'app.config["SECRET_KEY"] = "$key"']),
        rng.choice(['app.secret_key = os.environ["FLASK_SECRET_KEY"]', 'app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]']))
    b('app.config["MAX_CONTENT_LENGTH"] = $n * 1024 * 1024', "", "")
    b('@app.post("/$ents/<int:${ent}_id>/pin")', "def pin_$ent(${ent}_id):")
    b('    session["pinned_$ent"] = ${ent}_id', '    return {"pinned": ${ent}_id}')
    return b


def _c798_login(rng):
    c = _ctx(rng, pw=_password(rng), user=rng.choice(["deploy", "svc-$svc", "alerts", "ops", "automation", "backup"]))
    c["user"] = c["user"].replace("$svc", c["svc"])
    b = _B(**c)
    kind = rng.choice(["smtp", "requests", "paramiko", "redis", "ldap"])
    b.osimp(rng)
    if kind == "smtp":
        b("import smtplib", "import ssl", "from email.message import EmailMessage", "", "")
        b("def send_alert(subject, body, recipients):")
        with b.ind():
            b("msg = EmailMessage()", 'msg["Subject"] = subject', 'msg["From"] = "$user@$dom"', 'msg["To"] = ", ".join(recipients)')
            b("msg.set_content(body)")
            b('with smtplib.SMTP_SSL("smtp.$dom", 465, context=ssl.create_default_context()) as smtp:')
            b.v('    smtp.login("$user@$dom", "$pw")', '    smtp.login("$user@$dom", os.environ["SMTP_PASSWORD"])')
            b("    smtp.send_message(msg)")
        return b
    if kind == "requests":
        b("", "import requests", "", "")
        b("def fetch_${ent}_export(day):")
        with b.ind():
            b("resp = requests.get(", '    f"https://$host/exports/$ents/{day}.json",')
            b.v('    auth=("$user", "$pw"),', '    auth=("$user", os.environ["${SVC}_EXPORT_PASSWORD"]),')
            b("    timeout=30,", ")", "resp.raise_for_status()", "return resp.json()")
        return b
    if kind == "paramiko":
        b("", "import paramiko", "", "")
        b("def restart_$svc(host):")
        with b.ind():
            b("client = paramiko.SSHClient()", "client.load_system_host_keys()",
              "client.set_missing_host_key_policy(paramiko.RejectPolicy())")
            b.v('client.connect(host, username="$user", password="$pw", timeout=10)',
                'client.connect(host, username="$user", password=os.environ["SSH_PASSWORD"], timeout=10)')
            b("try:", '    _, stdout, _ = client.exec_command("systemctl restart $svc")',
              "    return stdout.channel.recv_exit_status()", "finally:", "    client.close()")
        return b
    if kind == "redis":
        b("import json", "", "import redis", "")
        b.v('cache = redis.Redis(host="cache.$dom", port=6380, password="$pw", ssl=True)',
            'cache = redis.Redis(host="cache.$dom", port=6380, password=os.environ["REDIS_PASSWORD"], ssl=True)')
        b("", "")
        b("def cache_$ent(${ent}_id, data, ttl=300):")
        b('    cache.setex(f"$ent:{${ent}_id}", ttl, json.dumps(data))')
        return b
    b("", "from ldap3 import ALL, Connection, Server", "", "")
    b("def directory_connection():")
    with b.ind():
        b('server = Server("ldaps://ldap.$dom", use_ssl=True, get_info=ALL)')
        b.v('return Connection(server, user="cn=$user,ou=services,dc=$svc,dc=local", password="$pw", auto_bind=True)',
            'return Connection(server, user="cn=$user,ou=services,dc=$svc,dc=local", password=os.environ["LDAP_BIND_PASSWORD"], auto_bind=True)')
    return b


def _c798_pem(rng):
    c = _ctx(rng)
    kt = rng.choice(["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"])
    body = "\\n".join(_rs(rng, 64, _B64) for _ in range(rng.randint(2, 4)))
    c.update(pem=f"-----BEGIN {kt}-----\\n{body}\\n-----END {kt}-----\\n")
    b = _B(**c)
    name = rng.choice(["SIGNING_KEY_PEM", "PRIVATE_KEY", "SERVICE_KEY_PEM", "DEPLOY_KEY"])
    fix_line = rng.choice([f'{name} = Path(os.environ["SIGNING_KEY_PATH"]).read_bytes()', f'{name} = os.environ["{name}"].encode()'])
    b.osimp(rng)
    if "Path(" in fix_line:
        b.d([], "from pathlib import Path")
    b("", "from cryptography.hazmat.primitives import hashes, serialization")
    if kt != "EC PRIVATE KEY":
        b("from cryptography.hazmat.primitives.asymmetric import padding")
    else:
        b("from cryptography.hazmat.primitives.asymmetric import ec")
    b("")
    b.v(f'{name} = b"$pem"', fix_line)
    b("", "")
    b("def sign_$ent(message: bytes) -> bytes:")
    with b.ind():
        b(f"key = serialization.load_pem_private_key({name}, password=None)")
        if kt != "EC PRIVATE KEY":
            b("return key.sign(message, padding.PKCS1v15(), hashes.SHA256())")
        else:
            b("return key.sign(message, ec.ECDSA(hashes.SHA256()))")
    return b


def _h798_settings(rng):
    b = _B(**_ctx(rng))
    b("import os", "from dataclasses import dataclass", "", "", "@dataclass")
    b(rng.choice(["class Settings:", "class ${Svc}Settings:", "class AppConfig:"]))
    with b.ind():
        b('db_host: str = "localhost"', "db_port: int = 5432")
        b(rng.choice(['db_password: str = ""', "db_password: str | None = None"]))
        b(rng.choice(['api_key: str = ""', "api_key: str | None = None"]))
        b("timeout: int = $n", "", "@classmethod", "def from_env(cls):")
        with b.ind():
            b("return cls(")
            b('    db_host=os.environ.get("DB_HOST", "localhost"),')
            b('    db_port=int(os.environ.get("DB_PORT", "5432")),')
            b(rng.choice(['    db_password=os.environ.get("DB_PASSWORD", ""),', '    db_password=os.environ["DB_PASSWORD"],']))
            b('    api_key=os.environ.get("${SVC}_API_KEY", ""),')
            b('    timeout=int(os.environ.get("${SVC}_TIMEOUT", "$n")),', ")")
    return b


def _h798_getpass(rng):
    b = _B(**_ctx(rng, user=rng.choice(["admin", "postgres", "deploy"])))
    b("import argparse", "import getpass", "", "import psycopg2", "", "")
    b("def main():")
    with b.ind():
        b("parser = argparse.ArgumentParser(description=\"Archive old $ents.\")")
        b('parser.add_argument("--host", default="localhost")', 'parser.add_argument("--user", default="$user")')
        b('parser.add_argument("--days", type=int, default=$n)', "args = parser.parse_args()")
        b(rng.choice(['password = getpass.getpass(f"Password for {args.user}: ")', 'password = getpass.getpass()']))
        b("conn = psycopg2.connect(host=args.host, user=args.user, password=password, dbname=\"$svc\")")
        b("with conn, conn.cursor() as cur:")
        b("    cur.execute(\"DELETE FROM $ents WHERE created_at < now() - make_interval(days => %s)\", (args.days,))")
        b('    print(f"removed {cur.rowcount} $ents")')
    b("", "", 'if __name__ == "__main__":', "    main()")
    return b


def _h798_names(rng):
    b = _B(**_ctx(rng))
    b("import re", "")
    b(rng.choice(['PASSWORD_FIELD = "password"', 'PASSWORD_PARAM = "password"']))
    b(rng.choice(['TOKEN_HEADER = "X-Api-Token"', 'TOKEN_HEADER = "Authorization"', 'API_KEY_HEADER = "X-Api-Key"']))
    b(rng.choice(['SECRET_ENV_VAR = "${SVC}_SECRET"', 'API_KEY_ENV = "${SVC}_API_KEY"']))
    b("PASSWORD_MIN_LENGTH = " + str(rng.choice([10, 12, 14])))
    b('REDACTED_KEYS = ("password", "token", "secret", "api_key", "authorization")', "", "")
    b("def redact(data: dict) -> dict:")
    with b.ind():
        b("clean = {}", "for key, value in data.items():")
        b('    clean[key] = "***" if key.lower() in REDACTED_KEYS else value', "return clean")
    b("", "")
    b("def validate_password(value: str) -> list[str]:")
    with b.ind():
        b("problems = []", "if len(value) < PASSWORD_MIN_LENGTH:")
        b('    problems.append(f"password must have at least {PASSWORD_MIN_LENGTH} characters")')
        b('if not re.search(r"[0-9]", value):', '    problems.append("password needs a digit")', "return problems")
    return b


def _h798_manager(rng):
    b = _B(**_ctx(rng, region=rng.choice(["us-east-1", "eu-west-1", "eu-central-1"])))
    kind = rng.choice(["aws", "vault", "keyring"])
    if kind == "aws":
        b("import json", "from functools import lru_cache", "", "import boto3", "", "", "@lru_cache(maxsize=1)")
        b("def db_credentials():")
        with b.ind():
            b('client = boto3.client("secretsmanager", region_name="$region")')
            b('response = client.get_secret_value(SecretId="prod/$svc/database")')
            b('secret = json.loads(response["SecretString"])')
            b('return secret["username"], secret["password"]')
    elif kind == "vault":
        b("import os", "", "import hvac", "", "")
        b("def read_${svc}_secret(path=\"$svc/api\"):")
        with b.ind():
            b('client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])')
            b("response = client.secrets.kv.v2.read_secret_version(path=path)")
            b('return response["data"]["data"]["api_key"]')
    else:
        b("import keyring", "", 'SERVICE_NAME = "$svc-cli"', "", "")
        b("def stored_token(username):", "    token = keyring.get_password(SERVICE_NAME, username)")
        b("    if token is None:", '        raise RuntimeError("run `$svc login` first")', "    return token")
        b("", "", "def save_token(username, token):", "    keyring.set_password(SERVICE_NAME, username, token)")
    return b


# ================================================================================ CWE-327 broken / risky crypto
def _c327_legacy_pycrypto(rng):
    b = _B(**_ctx(rng))
    alg = rng.choice(["DES", "DES3", "Blowfish", "ARC4"])
    verb = rng.choice(["encrypt", "seal", "protect"])
    mode = rng.choice(["MODE_CBC", "MODE_CFB", "MODE_OFB", "MODE_CBC"])
    b.d(f"from Crypto.Cipher import {alg}", "from Crypto.Cipher import AES")
    if alg != "ARC4":
        b("from Crypto.Random import get_random_bytes")
        if mode == "MODE_CBC":
            b.d("from Crypto.Util.Padding import pad", [])
    else:
        b.d([], "from Crypto.Random import get_random_bytes")
    b("", "")
    sig = rng.choice(["def ${verb}_$ent(data: bytes, key: bytes) -> bytes:", "def ${verb}_${ent}_blob(key, data):"])
    b.ctx["verb"] = verb
    as_class = rng.random() < 0.3
    if as_class:
        b("class ${Ent}Vault:")
        b.pad = "    "
        b("def __init__(self, key: bytes):", "    self.key = key", "")
        b(f"def {verb}(self, data: bytes) -> bytes:")
        key = "self.key"
    else:
        b(sig)
        key = "key"
    with b.ind():
        if alg == "ARC4":
            b.d([], "nonce = get_random_bytes(12)")
            b.v(f"cipher = ARC4.new({key})", f"cipher = AES.new({key}, AES.MODE_GCM, nonce=nonce)")
            b.d("return cipher.encrypt(data)", ["ciphertext, tag = cipher.encrypt_and_digest(data)", "return nonce + tag + ciphertext"])
        else:
            b.d("iv = get_random_bytes(8)", "nonce = get_random_bytes(12)")
            b.v(f"cipher = {alg}.new({key}, {alg}.{mode}, iv)", f"cipher = AES.new({key}, AES.MODE_GCM, nonce=nonce)")
            if mode == "MODE_CBC":
                b.d("return iv + cipher.encrypt(pad(data, 8))",
                    ["ciphertext, tag = cipher.encrypt_and_digest(data)", "return nonce + tag + ciphertext"])
            else:
                b.d("return iv + cipher.encrypt(data)",
                    ["ciphertext, tag = cipher.encrypt_and_digest(data)", "return nonce + tag + ciphertext"])
    b.pad = ""
    return b


def _c327_ecb(rng):
    b = _B(**_ctx(rng))
    verb = rng.choice(["encrypt", "seal", "wrap", "protect"])
    b.ctx["verb"] = verb
    if rng.random() < 0.5:
        b("from Crypto.Cipher import AES")
        b.d("from Crypto.Util.Padding import pad", [])
        b("", "")
        b(rng.choice(["def ${verb}_$field(value: str, key: bytes) -> bytes:", "def ${verb}_${ent}_$field(key, value):"]))
        with b.ind():
            b('data = value.encode("utf-8")')
            b.v("cipher = AES.new(key, AES.MODE_ECB)", "cipher = AES.new(key, AES.MODE_GCM)")
            b.d("return cipher.encrypt(pad(data, AES.block_size))",
                ["ciphertext, tag = cipher.encrypt_and_digest(data)", "return cipher.nonce + tag + ciphertext"])
        return b
    b.osimp(rng, 0.4)
    b("", "from cryptography.hazmat.primitives import padding")
    b("from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes", "", "")
    b(rng.choice(["def ${verb}_record(key: bytes, plaintext: bytes) -> bytes:", "def ${verb}_${ent}(key, plaintext):"]))
    with b.ind():
        b("padder = padding.PKCS7(128).padder()", "padded = padder.update(plaintext) + padder.finalize()")
        b.d([], "iv = os.urandom(12)")
        b.v("encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()",
            "encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()")
        b.d("return encryptor.update(padded) + encryptor.finalize()",
            ["ciphertext = encryptor.update(padded) + encryptor.finalize()", "return iv + encryptor.tag + ciphertext"])
    return b


def _c327_small_key(rng):
    b = _B(**_ctx(rng))
    small = rng.choice([512, 768, 1024, 1024, 1024])
    big = rng.choice([2048, 3072, 4096])
    kind = rng.choice(["crypto_rsa", "pycryptodome", "dsa", "const", "paramiko"])
    b.ctx.update(small=small, big=big)
    if kind == "paramiko":
        b("import paramiko", "", "")
        b("def create_deploy_key(path, comment=\"$svc-deploy\"):")
        with b.ind():
            b.v("key = paramiko.RSAKey.generate($small)", "key = paramiko.RSAKey.generate($big)")
            b("key.write_private_key_file(path)")
            b('return f"{key.get_name()} {key.get_base64()} {comment}"')
        return b
    if kind == "pycryptodome":
        b("from Crypto.PublicKey import RSA", "", "")
        b("def generate_${ent}_keys(passphrase):")
        with b.ind():
            b.v("key = RSA.generate($small)", "key = RSA.generate($big)")
            b('private_pem = key.export_key(passphrase=passphrase, pkcs=8, protection="scryptAndAES128-CBC")')
            b("public_pem = key.publickey().export_key()", "return private_pem, public_pem")
        return b
    b("from cryptography.hazmat.primitives import serialization")
    mod = "dsa" if kind == "dsa" else "rsa"
    b(f"from cryptography.hazmat.primitives.asymmetric import {mod}", "")
    if kind == "const":
        b.v("KEY_SIZE = $small", "KEY_SIZE = $big")
    b("")
    b(rng.choice(["def generate_keypair(passphrase: bytes):", "def new_${svc}_signing_key(passphrase):"]))
    with b.ind():
        if kind == "dsa":
            b.v("private_key = dsa.generate_private_key(key_size=$small)", "private_key = dsa.generate_private_key(key_size=$big)")
        elif kind == "const":
            b.m("private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)")
        else:
            b.v("private_key = rsa.generate_private_key(public_exponent=65537, key_size=$small)",
                "private_key = rsa.generate_private_key(public_exponent=65537, key_size=$big)")
        b("pem = private_key.private_bytes(")
        b("    encoding=serialization.Encoding.PEM,", "    format=serialization.PrivateFormat.PKCS8,")
        b("    encryption_algorithm=serialization.BestAvailableEncryption(passphrase),", ")")
        b("return pem, private_key.public_key()")
    return b


def _c327_tls(rng):
    b = _B(**_ctx(rng, port=rng.choice([443, 8443, 6514, 5671, 9443])))
    kind = rng.choice(["protocol", "minimum", "ciphers"])
    b("import socket", "import ssl", "", "")
    b(rng.choice(["def open_${svc}_channel(host, port=$port):", "def connect_$svc(host: str, port: int = $port):"]))
    with b.ind():
        if kind == "protocol":
            old = rng.choice(["PROTOCOL_TLSv1", "PROTOCOL_TLSv1_1", "PROTOCOL_SSLv23", "PROTOCOL_TLSv1"])
            b.v(f"context = ssl.SSLContext(ssl.{old})", "context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)")
            b("context.verify_mode = ssl.CERT_REQUIRED", "context.check_hostname = True", "context.load_default_certs()")
            if old == "PROTOCOL_SSLv23":
                b.d([], "context.minimum_version = ssl.TLSVersion.TLSv1_2")
        elif kind == "minimum":
            b("context = ssl.create_default_context()")
            old = rng.choice(["TLSv1", "TLSv1_1", "SSLv3"])
            b.v(f"context.minimum_version = ssl.TLSVersion.{old}",
                "context.minimum_version = ssl.TLSVersion." + rng.choice(["TLSv1_2", "TLSv1_3"]))
        else:
            b("context = ssl.create_default_context()")
            b.v('context.set_ciphers("' + rng.choice(["RC4-SHA:DES-CBC3-SHA", "DES-CBC3-SHA", "RC4-SHA", "DES-CBC-SHA:RC4-SHA"]) + '")',
                'context.set_ciphers("' + rng.choice(["ECDHE+AESGCM:ECDHE+CHACHA20", "ECDHE+AESGCM"]) + '")')
        b("sock = socket.create_connection((host, port), timeout=$n)")
        b("return context.wrap_socket(sock, server_hostname=host)")
    return b


def _c327_legacy_cryptography(rng):
    b = _B(**_ctx(rng))
    alg = rng.choice(["TripleDES", "Blowfish", "CAST5", "ARC4", "IDEA"])
    b("import os", "")
    b("from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes", "", "")
    b(rng.choice(["def encrypt_${ent}_message(key: bytes, message: bytes) -> bytes:", "def seal_$field(key, message):"]))
    with b.ind():
        if alg == "ARC4":
            b.d([], "nonce = os.urandom(12)")
            b.v("cipher = Cipher(algorithms.ARC4(key), mode=None)", "cipher = Cipher(algorithms.AES(key), modes.GCM(nonce))")
            b("encryptor = cipher.encryptor()")
            b.d("return encryptor.update(message) + encryptor.finalize()",
                ["ciphertext = encryptor.update(message) + encryptor.finalize()", "return nonce + encryptor.tag + ciphertext"])
        else:
            b.d("iv = os.urandom(8)", "nonce = os.urandom(12)")
            mode = rng.choice(["CFB", "OFB", "CFB"])
            b.v(f"cipher = Cipher(algorithms.{alg}(key), modes.{mode}(iv))", "cipher = Cipher(algorithms.AES(key), modes.GCM(nonce))")
            b("encryptor = cipher.encryptor()")
            b.d("return iv + encryptor.update(message) + encryptor.finalize()",
                ["ciphertext = encryptor.update(message) + encryptor.finalize()", "return nonce + encryptor.tag + ciphertext"])
    return b


def _h327_aead(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["AESGCM", "ChaCha20Poly1305"])
    b("import os", "", f"from cryptography.hazmat.primitives.ciphers.aead import {kind}", "", "")
    b("def encrypt_$field(key: bytes, plaintext: bytes, ${ent}_id: str) -> bytes:")
    b("    nonce = os.urandom(12)", f'    return nonce + {kind}(key).encrypt(nonce, plaintext, ${{ent}}_id.encode())', "", "")
    b("def decrypt_$field(key: bytes, blob: bytes, ${ent}_id: str) -> bytes:")
    b("    nonce, ciphertext = blob[:12], blob[12:]", f"    return {kind}(key).decrypt(nonce, ciphertext, ${{ent}}_id.encode())")
    return b


def _h327_fernet(rng):
    b = _B(**_ctx(rng))
    b("import os", "", "from cryptography.fernet import Fernet, InvalidToken", "", "")
    b("class ${Ent}TokenBox:")
    with b.ind():
        b("def __init__(self, key=None):", '    self.fernet = Fernet(key or os.environ["${SVC}_FERNET_KEY"])', "")
        b("def seal(self, value: str) -> str:", '    return self.fernet.encrypt(value.encode()).decode()', "")
        b("def open(self, token: str, ttl=$n * 60):", "    try:", "        return self.fernet.decrypt(token.encode(), ttl=ttl).decode()")
        b("    except InvalidToken:", "        return None")
    return b


def _h327_tls(rng):
    b = _B(**_ctx(rng, port=rng.choice([443, 8443, 6514])))
    b("import socket", "import ssl", "", "")
    b("def open_${svc}_channel(host, port=$port, cafile=None):")
    with b.ind():
        b("context = ssl.create_default_context(cafile=cafile)")
        b("context.minimum_version = ssl.TLSVersion." + rng.choice(["TLSv1_2", "TLSv1_3"]))
        if rng.random() < 0.4:
            b('context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")')
        b("sock = socket.create_connection((host, port), timeout=$n)")
        b("return context.wrap_socket(sock, server_hostname=host)")
    return b


def _h327_keys(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["rsa", "ec", "ed25519"])
    b("from cryptography.hazmat.primitives import serialization")
    b(f"from cryptography.hazmat.primitives.asymmetric import {kind}", "", "")
    b("def generate_${svc}_keypair():")
    with b.ind():
        if kind == "rsa":
            b(f"key = rsa.generate_private_key(public_exponent=65537, key_size={rng.choice([2048, 3072, 4096])})")
        elif kind == "ec":
            b("key = ec.generate_private_key(ec." + rng.choice(["SECP256R1", "SECP384R1", "SECP521R1"]) + "())")
        else:
            b("key = ed25519.Ed25519PrivateKey.generate()")
        b("public_pem = key.public_key().public_bytes(")
        b("    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo", ")")
        b("return key, public_pem")
    return b


# ================================================================================ CWE-328 weak hash for security
def _c328_password(rng):
    b = _B(**_ctx(rng))
    h = rng.choice(["md5", "sha1", "md5"])
    fix = rng.choice(["scrypt", "pbkdf2"])
    salted = rng.random() < 0.35
    b("import hashlib")
    if salted:
        b("import os")
    else:
        b.osimp(rng, 0.4)
    b("", "")
    style = rng.choice(["func", "method"])

    def fixed_lines(var):
        if fix == "scrypt":
            return ["salt = os.urandom(16)",
                    f"digest = hashlib.scrypt({var}.encode(\"utf-8\"), salt=salt, n=2**14, r=8, p=1)"]
        return ["salt = os.urandom(16)", f"digest = hashlib.pbkdf2_hmac(\"sha256\", {var}.encode(\"utf-8\"), salt, 600_000)"]

    if style == "func":
        b(rng.choice(["def hash_password(password: str) -> str:", "def make_password_hash(password):"]))
        with b.ind():
            if salted:
                b.v(["salt = os.urandom(8).hex()", f'digest = hashlib.{h}((salt + password).encode("utf-8")).hexdigest()'],
                    fixed_lines("password"), marks=[1])
                b.d('return f"{salt}$${digest}"', 'return f"{salt.hex()}${digest.hex()}"')
            else:
                b.v(f'return hashlib.{h}(password.encode("utf-8")).hexdigest()',
                    fixed_lines("password") + ['return f"{salt.hex()}${digest.hex()}"'], marks=[0])
        return b
    b("class ${Ent}User:")
    with b.ind():
        b("def __init__(self, username, email):", "    self.username = username", "    self.email = email",
          "    self.password_hash = None", "")
        b("def set_password(self, raw_password):")
        with b.ind():
            b.v(f'self.password_hash = hashlib.{h}(raw_password.encode()).hexdigest()',
                fixed_lines("raw_password") + ['self.password_hash = f"{salt.hex()}${digest.hex()}"'])
    return b


def _c328_token(rng):
    b = _B(**_ctx(rng))
    h = rng.choice(["md5", "sha1"])
    what = rng.choice(["reset", "api", "invite", "session"])
    b.ctx["tbl"] = {"reset": "password_resets", "api": "api_keys", "invite": "invitations", "session": "sessions"}[what]
    b("import hashlib", "import secrets", "", "")
    b(rng.choice(["def create_${what}_token(db, user_id):", "def issue_${what}_token(db, user_id, ttl_minutes=$n):"]).replace("${what}", what))
    with b.ind():
        b("token = secrets.token_urlsafe(32)")
        b.v(f"token_hash = hashlib.{h}(token.encode()).hexdigest()", "token_hash = hashlib.sha256(token.encode()).hexdigest()")
        b('db.execute("INSERT INTO $tbl (user_id, token_hash) VALUES (%s, %s)", (user_id, token_hash))')
        b("return token")
    if rng.random() < 0.5:
        b("", "")
        b(f"def lookup_{what}_token(db, token):")
        with b.ind():
            b.v(f"token_hash = hashlib.{h}(token.encode()).hexdigest()", "token_hash = hashlib.sha256(token.encode()).hexdigest()")
            b('return db.fetch_one("SELECT user_id FROM $tbl WHERE token_hash = %s", (token_hash,))')
    return b


def _c328_signature(rng):
    b = _B(**_ctx(rng))
    h = rng.choice(["md5", "sha1"])
    kind = rng.choice(["message", "url", "webhook"])
    b("import hashlib", "import hmac")
    if kind == "url":
        b("import time")
    b("", "")
    if kind == "message":
        b("def sign_message(message: bytes, secret: bytes) -> str:")
        b.v(f"    return hashlib.{h}(secret + message).hexdigest()", "    return hmac.new(secret, message, hashlib.sha256).hexdigest()")
        b("", "", "def verify_message(message: bytes, secret: bytes, signature: str) -> bool:")
        b("    return hmac.compare_digest(sign_message(message, secret), signature)")
    elif kind == "url":
        b("def signed_download_url(path: str, secret: str, ttl: int = 3600) -> str:")
        with b.ind():
            b("expires = int(time.time()) + ttl")
            b.v(f'signature = hashlib.{h}(f"{{path}}:{{expires}}:{{secret}}".encode()).hexdigest()',
                'signature = hmac.new(secret.encode(), f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()')
            b('return f"https://files.$dom{path}?expires={expires}&sig={signature}"')
    else:
        b("def is_valid_webhook(body: bytes, header_signature: str, shared_secret: bytes) -> bool:")
        with b.ind():
            b.v(f"expected = hashlib.{h}(shared_secret + body).hexdigest()",
                "expected = hmac.new(shared_secret, body, hashlib.sha256).hexdigest()")
            b("return hmac.compare_digest(expected, header_signature)")
    return b


def _c328_django_hashers(rng):
    b = _B(**_ctx(rng))
    weak = rng.choice(["MD5PasswordHasher", "UnsaltedMD5PasswordHasher", "SHA1PasswordHasher", "UnsaltedSHA1PasswordHasher"])
    strong = rng.choice(["Argon2PasswordHasher", "PBKDF2PasswordHasher", "ScryptPasswordHasher", "BCryptSHA256PasswordHasher"])
    b("import os", "")
    b('ROOT_URLCONF = "$svc.urls"', 'WSGI_APPLICATION = "$svc.wsgi.application"')
    b('AUTH_USER_MODEL = "accounts.User"', "")
    b("PASSWORD_HASHERS = [")
    b.v(f'    "django.contrib.auth.hashers.{weak}",', f'    "django.contrib.auth.hashers.{strong}",')
    if rng.random() < 0.5:
        b('    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",' if strong != "PBKDF2PasswordHasher"
          else '    "django.contrib.auth.hashers.ScryptPasswordHasher",')
    b("]", "")
    b("AUTH_PASSWORD_VALIDATORS = [")
    b('    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},')
    b('    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},', "]")
    b("", 'LANGUAGE_CODE = "en-us"', 'TIME_ZONE = os.environ.get("TZ", "UTC")')
    return b


def _c328_verify(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["hashlib_new", "passlib"])
    if kind == "passlib":
        weak = rng.choice(["md5_crypt", "hex_md5", "ldap_md5", "hex_sha1"])
        strong = rng.choice(["argon2", "bcrypt", "pbkdf2_sha256"])
        b.d(f"from passlib.hash import {weak}", f"from passlib.hash import {strong}")
        b("", "")
        b.ctx["tbl"] = rng.choice(["users", "accounts", "members", "staff"])
        b(rng.choice(["def register_user(db, username, password):", "def create_${ent}_login(db, username, password):"]))
        b.v(f"    hashed = {weak}.hash(password)", f"    hashed = {strong}.hash(password)")
        b('    db.execute("INSERT INTO $tbl (username, password_hash) VALUES (%s, %s)", (username, hashed))', "", "")
        b(rng.choice(["def check_login(db, username, password):", "def verify_${ent}_login(db, username, password):"]))
        with b.ind():
            b('row = db.fetch_one("SELECT password_hash FROM $tbl WHERE username = %s", (username,))')
            b("if row is None:", "    return False")
            b.v(f'return {weak}.verify(password, row["password_hash"])', f'return {strong}.verify(password, row["password_hash"])')
        return b
    h = rng.choice(["md5", "sha1"])
    b("import hashlib", "import hmac", "", "")
    b.ctx["tbl"] = rng.choice(["users", "accounts", "members", "${ent}_users", "staff"]).replace("${ent}", b.ctx["ent"])
    b(rng.choice(["def check_credentials(db, username, password):", "def verify_login(db, username, password):",
                  "def authenticate_${ent}_user(db, username, password):"]))
    with b.ind():
        b('row = db.fetch_one("SELECT salt, password_hash FROM $tbl WHERE username = %s", (username,))')
        b("if row is None:", "    return False")
        b.v(f'candidate = hashlib.new("{h}", (row["salt"] + password).encode()).hexdigest()',
            'candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(row["salt"]), 600_000).hex()')
        b('return hmac.compare_digest(candidate, row["password_hash"])')
    return b


def _h328_cache_key(rng):
    b = _B(**_ctx(rng))
    h = rng.choice(["md5", "sha1", "md5"])
    flag = rng.random() < 0.75
    arg = ", usedforsecurity=False" if flag else ""
    b("import hashlib", "import json", "", "")
    kind = rng.choice(["cache", "bucket", "etag", "dedupe"])
    if kind == "cache":
        b("def cache_key(prefix: str, params: dict) -> str:")
        b("    raw = json.dumps(params, sort_keys=True, separators=(\",\", \":\"))")
        b(f"    return f\"{{prefix}}:{{hashlib.{h}(raw.encode(){arg}).hexdigest()}}\"")
    elif kind == "bucket":
        b("def experiment_bucket(user_id: str, buckets: int = 100) -> int:")
        b(f"    digest = hashlib.{h}(f\"$svc-experiment:{{user_id}}\".encode(){arg}).hexdigest()")
        b("    return int(digest[:8], 16) % buckets")
    elif kind == "etag":
        b("def etag_for(message: dict) -> str:")
        b("    body = json.dumps(message, sort_keys=True).encode()")
        b(f"    return '\"' + hashlib.{h}(body{arg}).hexdigest() + '\"'")
    else:
        b("def dedupe_$ents(rows):")
        b("    seen = set()", "    for row in rows:")
        b(f"        fingerprint = hashlib.{h}(json.dumps(row, sort_keys=True).encode(){arg}).hexdigest()")
        b("        if fingerprint in seen:", "            continue", "        seen.add(fingerprint)", "        yield row")
    return b


def _h328_checksum(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["sha256", "content_md5"])
    if kind == "sha256":
        b("import hashlib", "from pathlib import Path", "", "")
        b("def verify_download(path: Path, expected_sha256: str, chunk_size: int = 65536) -> bool:")
        with b.ind():
            b("digest = hashlib.sha256()", 'with path.open("rb") as fh:')
            b("    for chunk in iter(lambda: fh.read(chunk_size), b\"\"):", "        digest.update(chunk)")
            b("return digest.hexdigest() == expected_sha256.lower()")
    else:
        b("import base64", "import hashlib", "", "")
        b("def upload_$ent(s3, bucket, key, body: bytes):")
        with b.ind():
            b("content_md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()")
            b("s3.put_object(Bucket=bucket, Key=key, Body=body, ContentMD5=content_md5)")
    return b


def _h328_password_ok(rng):
    b = _B(**_ctx(rng))
    b("import hashlib", "import hmac", "import os", "", "")
    b(rng.choice(["def hash_password(password: str) -> str:", "def make_${ent}_password_hash(password):", "def encode_password(password: str) -> str:"]))
    with b.ind():
        b("salt = os.urandom(16)")
        if rng.random() < 0.5:
            b('digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)')
        else:
            b('digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 600_000)')
        b('return salt.hex() + "$" + digest.hex()')
    b("", "")
    b("def same_digest(a: str, b: str) -> bool:", "    return hmac.compare_digest(a, b)")
    return b


# ================================================================================ CWE-338 weak PRNG for security
def _c338_token(rng):
    b = _B(**_ctx(rng))
    b.d("import random", "import secrets")
    b("import string", "", "")
    style = rng.choice(["func", "method", "const"])
    fixc = rng.choice(["choice", "choice", "urlsafe"])
    vline = rng.choice(['return "".join(random.choice(alphabet) for _ in range(length))',
                        'return "".join(random.choices(alphabet, k=length))'])
    fline = ('return "".join(secrets.choice(alphabet) for _ in range(length))' if fixc == "choice"
             else "return secrets.token_urlsafe(length)")
    if style == "func":
        b(rng.choice(["def generate_reset_token(length=32):", "def make_invite_code(length: int = 20) -> str:",
                      "def new_api_key(length=40):"]))
        with b.ind():
            b("alphabet = string.ascii_letters + string.digits")
            b.v(vline, fline)
    elif style == "const":
        b("ALPHABET = string.ascii_letters + string.digits", "", "")
        b("def create_password_reset(user, length=$n + 20):")
        with b.ind():
            b.v('token = "".join(random.choice(ALPHABET) for _ in range(length))',
                'token = "".join(secrets.choice(ALPHABET) for _ in range(length))')
            b("user.reset_token = token", "user.save()", "return token")
    else:
        b("class ${Ent}Invitations:")
        with b.ind():
            b("def __init__(self, store):", "    self.store = store", "")
            b("def create(self, email, length=24):")
            with b.ind():
                b("alphabet = string.ascii_letters + string.digits")
                b.v('code = "".join(random.choice(alphabet) for _ in range(length))',
                    'code = "".join(secrets.choice(alphabet) for _ in range(length))')
                b('self.store.save(email=email, code=code)', "return code")
    return b


def _c338_otp(rng):
    b = _B(**_ctx(rng))
    b.d("import random", "import secrets")
    form = rng.randrange(3)
    if form == 2:
        b("import string")
    b("", "")
    b(rng.choice(["def send_login_code(user, cache, sms):", "def start_two_factor(user, cache, sms):"]))
    with b.ind():
        if form == 0:
            b.v('code = f"{random.randint(0, 999999):06d}"', 'code = f"{secrets.randbelow(1_000_000):06d}"')
        elif form == 1:
            b.v("code = str(random.randint(100000, 999999))", "code = str(secrets.randbelow(900000) + 100000)")
        else:
            b.v('code = "".join(random.choices(string.digits, k=6))', 'code = "".join(secrets.choice(string.digits) for _ in range(6))')
        b('cache.set(f"' + rng.choice(["otp", "2fa", "login-code", "${svc}:otp"]) + ':{user.id}", code, timeout=' + str(rng.choice([120, 300, 600])) + ")")
        b(rng.choice(['sms.send(user.phone, f"Your verification code is {code}")', 'sms.send(user.phone, f"$Svc code: {code}")',
                      'sms.send(to=user.phone, body=f"Use {code} to sign in")']))
        if rng.random() < 0.4:
            b("return True")
    return b


def _c338_session(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(3)
    if form == 1:
        b("import random", "import uuid")
    else:
        b.d("import random", "import secrets")
    b("import time", "", "")
    b(rng.choice(["def new_session(store, user_id):", "def open_session(store, user_id, ttl=3600):", "def start_${svc}_session(store, user_id):",
                  "def create_${ent}_session(store, user_id):"]))
    with b.ind():
        if form == 0:
            b.v('session_id = "%032x" % random.getrandbits(128)', "session_id = secrets.token_hex(16)")
        elif form == 1:
            b.v("session_id = uuid.UUID(int=random.getrandbits(128)).hex", "session_id = uuid.uuid4().hex")
        else:
            b.v("session_id = hex(random.randrange(2**64))[2:]", "session_id = secrets.token_urlsafe(24)")
        b('store.set(session_id, {"user_id": user_id, "' + rng.choice(["created", "issued_at", "started"]) + '": time.time()})')
        b("return session_id")
    return b


def _c338_password(rng):
    b = _B(**_ctx(rng))
    b.d("import random", "import secrets")
    b("import string", "", 'CHARS = string.ascii_letters + string.digits + "!#%&*+-=?"', "", "")
    b(rng.choice(["def temporary_password(length=12):", "def reset_${ent}_password(${ent}, length=14):"]))
    with b.ind():
        form = rng.randrange(2)
        if form == 0:
            b.v('password = "".join(random.sample(CHARS, length))', 'password = "".join(secrets.choice(CHARS) for _ in range(length))')
        else:
            b.v("password = ''.join(random.choice(CHARS) for _ in range(length))",
                "password = ''.join(secrets.choice(CHARS) for _ in range(length))")
        if "reset_" in b.items[-2][1][0]:
            b("${ent}.set_password(password)", "${ent}.must_change_password = True", "${ent}.save()")
        b("return password")
    return b


def _c338_keymaterial(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(3)
    if form == 0:
        b.d("import random", "import os")
        b("import hashlib", "", "")
        b(rng.choice(["def derive_key(password: str):", "def derive_${ent}_key(password):", "def key_from_password(password):"]))
        with b.ind():
            b.v("salt = bytes(random.getrandbits(8) for _ in range(16))", "salt = os.urandom(16)")
            b('key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 600_000)', "return salt, key")
    elif form == 1:
        b.d(["import random", "import time"], "import secrets")
        b("", "")
        b(rng.choice(["def create_api_key(owner):", "def issue_${svc}_key(owner):", "def new_${ent}_api_key(owner):"]))
        with b.ind():
            b.v(["random.seed(time.time())", 'key = "%040x" % random.getrandbits(160)'], "key = secrets.token_hex(20)")
            b('owner.api_keys.create(prefix=key[:8], value=key)', "return key")
    else:
        b.d("import random", "import secrets")
        b("", "")
        b(rng.choice(["def new_nonce() -> bytes:", "def ${svc}_nonce() -> bytes:", "def request_nonce():"]))
        b.v('    return random.randbytes(16)', "    return secrets.token_bytes(16)")
        b("", "", rng.choice(["def csrf_token() -> str:", "def form_token():", "def ${ent}_form_token() -> str:"]))
        b.v('    return "%x" % random.getrandbits(128)', "    return secrets.token_hex(16)")
    return b


def _h338_shuffle(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["playlist", "quiz", "cards", "colors"])
    b("import random", "", "")
    if kind == "playlist":
        b("def shuffled_playlist(tracks, seed=None):")
        b("    order = list(tracks)", "    random.Random(seed).shuffle(order)", "    return order")
    elif kind == "quiz":
        b("def build_quiz(questions, count=$n):")
        b("    picked = random.sample(questions, k=min(count, len(questions)))")
        b("    for q in picked:", "        random.shuffle(q.answers)", "    return picked")
    elif kind == "cards":
        b("def featured_$ents(items, limit=3):")
        b("    pool = [item for item in items if item.is_public]", "    return random.sample(pool, k=min(limit, len(pool)))")
    else:
        b('PALETTE = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b"]', "", "")
        b("def chart_color(label: str) -> str:", "    return random.Random(label).choice(PALETTE)")
    return b


def _h338_simulation(rng):
    b = _B(**_ctx(rng))
    b("import random", "import statistics", "", "")
    b(rng.choice(["def simulate_queue(arrival_rate, service_rate, customers=1000, seed=$n):",
                  "def simulate_${ent}_queue(arrival_rate, service_rate, customers=" + str(rng.choice([500, 1000, 5000])) + ", seed=$n):"]))
    with b.ind():
        b("rng = random.Random(seed)", "clock = 0.0", "free_at = 0.0", "waits = []")
        b("for _ in range(customers):")
        b("    clock += rng.expovariate(arrival_rate)", "    start = max(clock, free_at)", "    waits.append(start - clock)")
        b("    free_at = start + rng.expovariate(service_rate)")
        b("return statistics.mean(waits)")
    return b


def _h338_jitter(rng):
    b = _B(**_ctx(rng))
    b("import random", "import time", "", "import requests", "", "")
    b(rng.choice(["def fetch_with_retry(url, attempts=$v + 2, base_delay=0.5):", "def get_${ents}_page(url, attempts=$v + 2, base_delay=0.5):",
                  "def poll_${svc}(url, attempts=$v + 2, base_delay=" + rng.choice(["0.2", "0.5", "1.0"]) + "):"]))
    with b.ind():
        b("for attempt in range(attempts):")
        with b.ind():
            b("try:", "    resp = requests.get(url, timeout=10)", "    resp.raise_for_status()", "    return resp.json()")
            b("except requests.RequestException:", "    if attempt == attempts - 1:", "        raise")
            b("    time.sleep(base_delay * 2**attempt + random.uniform(0, base_delay))")
    return b


def _h338_sysrandom(rng):
    b = _B(**_ctx(rng))
    b("import random", "import string", "", "_sysrand = random.SystemRandom()", "", "")
    b(rng.choice(["def recovery_code(groups=4, size=4):", "def ${svc}_backup_code(groups=" + str(rng.choice([3, 4, 5])) + ", size=4):",
                  "def new_${ent}_pin(groups=2, size=" + str(rng.choice([3, 4, 6])) + "):"]))
    b("    alphabet = string.ascii_uppercase + string.digits")
    b('    return "-".join("".join(_sysrand.choice(alphabet) for _ in range(size)) for _ in range(groups))')
    return b


# ================================================================================ CWE-295 disabled certificate validation
def _ca_path(rng):
    return rng.choice(['"/etc/ssl/certs/internal-ca.pem"', 'os.environ["REQUESTS_CA_BUNDLE"]', '"/etc/pki/tls/certs/ca-bundle.crt"',
                       'os.environ.get("CA_BUNDLE", True)', "True"])


def _c295_requests(rng):
    b = _B(**_ctx(rng))
    lib = rng.choice(["requests", "requests", "httpx"])
    fixv = _ca_path(rng)
    needs_os = "os." in fixv
    if needs_os:
        b.osimp(rng, 0.5)
        b("")
    b(f"import {lib}")
    silence = lib == "requests" and rng.random() < 0.3
    if silence:
        b.d("import urllib3", [])
    b("", "")
    if silence:
        b.v("urllib3.disable_warnings()", [])
        b("", "")
    style = rng.choice(["call", "session", "client"])
    if lib == "httpx" or style == "client":
        mod = lib
        b("def make_${svc}_client(token):")
        with b.ind():
            if mod == "httpx":
                b("return httpx.Client(", '    base_url="https://$host/v$v",', '    headers={"Authorization": f"Bearer {token}"},')
                b("    timeout=$n,")
                b.v("    verify=False,", f"    verify={fixv},")
                b(")")
            else:
                b("session = requests.Session()", 'session.headers["Authorization"] = f"Bearer {token}"')
                b.v("session.verify = False", f"session.verify = {fixv}")
                b("return session")
        return b
    if style == "session":
        b("class ${Svc}Api:")
        with b.ind():
            b("def __init__(self, base_url, token):", "    self.base_url = base_url.rstrip(\"/\")")
            b("    self.session = requests.Session()", '    self.session.headers["Authorization"] = f"Bearer {token}"')
            b.v("    self.session.verify = False", f"    self.session.verify = {fixv}")
            b("", "def $ent(self, ${ent}_id):")
            b('    resp = self.session.get(f"{self.base_url}/$ents/{${ent}_id}", timeout=$n)')
            b("    resp.raise_for_status()", "    return resp.json()")
        return b
    b("def fetch_${ent}_status(base_url, token):")
    with b.ind():
        method = rng.choice(["get", "post"])
        b(f'resp = requests.{method}(', '    f"{base_url}/$ents/status",', '    headers={"Authorization": f"Bearer {token}"},')
        b("    timeout=$n,")
        b.v("    verify=False,", f"    verify={fixv},")
        b(")", "resp.raise_for_status()", "return resp.json()")
    return b


def _c295_ssl_context(rng):
    b = _B(**_ctx(rng, port=rng.choice([443, 8443, 993, 6514, 636])))
    kind = rng.choice(["socket", "imap", "smtp", "asyncio"])
    b("import os") if rng.random() < 0.3 else None
    if kind == "imap":
        b("import imaplib")
    elif kind == "smtp":
        b("import smtplib")
    elif kind == "asyncio":
        b("import asyncio")
    else:
        b("import socket")
    b("import ssl", "", "")
    both = rng.random() < 0.6
    fix = rng.choice([["context.load_verify_locations(cafile=ca_file)"], []])
    sig_extra = ", ca_file=None" if fix else ""
    if kind == "asyncio":
        b(f"async def open_${{svc}}_stream(host, port=$port{sig_extra}):")
    else:
        b(f"def open_${{svc}}_connection(host, port=$port{sig_extra}):")
    with b.ind():
        b("context = ssl.create_default_context()")
        vl = (["context.check_hostname = False", "context.verify_mode = ssl.CERT_NONE"] if both
              else ["context.verify_mode = ssl.CERT_NONE"] if rng.random() < 0.5 else ["context.check_hostname = False"])
        b.v(vl, fix)
        if kind == "socket":
            b("sock = socket.create_connection((host, port), timeout=$n)", "return context.wrap_socket(sock, server_hostname=host)")
        elif kind == "imap":
            b("client = imaplib.IMAP4_SSL(host, port, ssl_context=context)")
            b('client.login(os.environ["IMAP_USER"], os.environ["IMAP_PASSWORD"])' if "import os" in str(b.items[0]) else "return client")
            if "import os" in str(b.items[0]):
                b("return client")
        elif kind == "smtp":
            b("return smtplib.SMTP_SSL(host, port, context=context, timeout=$n)")
        else:
            b("reader, writer = await asyncio.open_connection(host, port, ssl=context)", "return reader, writer")
    return b


def _c295_unverified(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["urlopen", "global", "httpclient"])
    b("import json", "import ssl")
    if kind == "httpclient":
        b("import http.client")
    else:
        b("import urllib.request")
    b("", "")
    if kind == "global":
        b.v("ssl._create_default_https_context = ssl._create_unverified_context", [])
        b("", "")
        b("def load_$ents(url):")
        with b.ind():
            b("with urllib.request.urlopen(url, timeout=$n) as resp:", "    return json.load(resp)")
        return b
    if kind == "urlopen":
        b("def load_$ents(url, token):")
        with b.ind():
            b('req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})')
            b.v("context = ssl._create_unverified_context()", rng.choice(["context = ssl.create_default_context()",
                                                                            'context = ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")']))
            b("with urllib.request.urlopen(req, context=context, timeout=$n) as resp:", "    return json.load(resp)")
        return b
    b('def get_${ent}(host, ${ent}_id):')
    with b.ind():
        b.v("conn = http.client.HTTPSConnection(host, timeout=$n, context=ssl._create_unverified_context())",
            "conn = http.client.HTTPSConnection(host, timeout=$n, context=ssl.create_default_context())")
        b('conn.request("GET", f"/api/$ents/{${ent}_id}")', "resp = conn.getresponse()")
        b("try:", "    return json.loads(resp.read())", "finally:", "    conn.close()")
    return b


def _c295_paramiko(rng):
    b = _B(**_ctx(rng, user=rng.choice(["deploy", "ubuntu", "ops", "backup"])))
    b("import paramiko", "", "")
    b(rng.choice(["def run_remote(host, command, key_path):", "def collect_${svc}_logs(host, key_path, command=\"journalctl -u $svc --since today\"):"]))
    with b.ind():
        b("client = paramiko.SSHClient()")
        pol = rng.choice(["AutoAddPolicy", "AutoAddPolicy", "WarningPolicy"])
        form = rng.randrange(3)
        if form == 0:
            b.v(f"client.set_missing_host_key_policy(paramiko.{pol}())",
                ["client.load_system_host_keys()", "client.set_missing_host_key_policy(paramiko.RejectPolicy())"])
        elif form == 1:
            b("client.load_system_host_keys()")
            b.v(f"client.set_missing_host_key_policy(paramiko.{pol}())", "client.set_missing_host_key_policy(paramiko.RejectPolicy())")
        else:
            b.v(f"client.set_missing_host_key_policy(paramiko.{pol}())", 'client.load_host_keys("/etc/$svc/known_hosts")')
        b('client.connect(host, username="$user", key_filename=key_path, timeout=$n)')
        b("try:", "    _, stdout, stderr = client.exec_command(command)", "    return stdout.read().decode(), stderr.read().decode()")
        b("finally:", "    client.close()")
    return b


def _c295_async_urllib3(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["aiohttp_get", "aiohttp_connector", "urllib3"])
    if kind == "urllib3":
        b.d("import json", ["import json", ""])
        b.d("import urllib3", ["import certifi", "import urllib3"])
        b("", "")
        b.v('http = urllib3.PoolManager(cert_reqs="CERT_NONE")',
            'http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=certifi.where())')
        b("", "")
        b("def get_$ents(base_url):")
        b('    resp = http.request("GET", f"{base_url}/$ents", timeout=$n.0)', "    return json.loads(resp.data)")
        return b
    b.d([], "import ssl")
    b("", "import aiohttp", "", "")
    b("async def fetch_$ents(base_url, token):")
    with b.ind():
        b('headers = {"Authorization": f"Bearer {token}"}')
        if kind == "aiohttp_get":
            b.d([], "ssl_context = ssl.create_default_context()")
            b("async with aiohttp.ClientSession(headers=headers) as session:")
            b.v('    async with session.get(f"{base_url}/$ents", ssl=False) as resp:',
                '    async with session.get(f"{base_url}/$ents", ssl=ssl_context) as resp:')
        else:
            b.v("connector = aiohttp.TCPConnector(" + rng.choice(["ssl=False", "verify_ssl=False"]) + ")",
                "connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())")
            b("async with aiohttp.ClientSession(headers=headers, connector=connector) as session:")
            b('    async with session.get(f"{base_url}/$ents") as resp:')
        b("        resp.raise_for_status()", "        return await resp.json()")
    return b


def _h295_requests(rng):
    b = _B(**_ctx(rng))
    b("import os", "", "import requests", "", 'CA_BUNDLE = os.environ.get("${SVC}_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")', "", "")
    b("def post_$ent(base_url, message, cert=None):")
    with b.ind():
        b("resp = requests.post(", '    f"{base_url}/$ents",', "    json=message,", "    timeout=$n,")
        b(rng.choice(["    verify=CA_BUNDLE,", "    verify=True,"]), "    cert=cert,", ")", "resp.raise_for_status()", "return resp.json()")
    return b


def _h295_server_ctx(rng):
    b = _B(**_ctx(rng, port=rng.choice([8443, 9443, 6514])))
    b("import ssl", "", "")
    b(rng.choice(["def server_context(cert_file, key_file, client_ca=None):", "def ${svc}_server_context(cert_file, key_file, client_ca=None):",
                  "def build_tls_server(cert_file, key_file, client_ca=None):"]))
    with b.ind():
        b("context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)", "context.minimum_version = ssl.TLSVersion.TLSv1_2")
        b("context.load_cert_chain(cert_file, key_file)", "if client_ca:", "    context.load_verify_locations(cafile=client_ca)",
          "    context.verify_mode = ssl.CERT_REQUIRED", "return context")
    if rng.random() < 0.6:
        b("", "", rng.choice(["def client_context(cafile=None):", "def ${svc}_client_context(cafile=None):"]),
          "    context = ssl.create_default_context(cafile=cafile)", "    context.check_hostname = True",
          "    context.verify_mode = ssl.CERT_REQUIRED", "    return context")
    return b


def _h295_paramiko(rng):
    b = _B(**_ctx(rng, user=rng.choice(["deploy", "ops", "backup"])))
    b("import os", "", "import paramiko", "", "")
    b("def open_sftp(host, key_path):")
    with b.ind():
        b("client = paramiko.SSHClient()", "client.load_system_host_keys()")
        b('client.load_host_keys(os.path.expanduser("~/.ssh/known_hosts"))')
        b("client.set_missing_host_key_policy(paramiko.RejectPolicy())")
        b('client.connect(host, username="$user", key_filename=key_path, timeout=$n)', "return client.open_sftp()")
    return b


def _h295_httpx(rng):
    b = _B(**_ctx(rng))
    b("import ssl", "", "import httpx", "", "")
    b("def build_client(cafile=None, client_cert=None):")
    with b.ind():
        b("context = ssl.create_default_context(cafile=cafile)", "if client_cert:", "    context.load_cert_chain(*client_cert)")
        b('return httpx.AsyncClient(base_url="https://$host", verify=context, timeout=$n)')
    return b


# ================================================================================ CWE-319 cleartext transmission
def _c319_http(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["token", "login", "apikey", "basic"])
    b("import os") if rng.random() < 0.5 else None
    b("", "import requests", "")
    path = {"token": "/oauth/token", "login": "/api/v$v/login", "apikey": "/v$v", "basic": "/api"}[kind]
    name = rng.choice(["AUTH_URL", "BASE_URL", "${SVC}_URL", "ENDPOINT"])
    b.v(f'{name} = "http://$host{path}"', f'{name} = "https://$host{path}"')
    b("", "")
    if kind == "token":
        b("def get_access_token(client_id, client_secret):")
        with b.ind():
            b.m(f"resp = requests.post({name}, data={{\"grant_type\": \"client_credentials\", \"client_id\": client_id, \"client_secret\": client_secret}}, timeout=10)")
            b("resp.raise_for_status()", 'return resp.json()["access_token"]')
    elif kind == "login":
        b("def login(session, username, password):")
        with b.ind():
            b.m(f'resp = session.post({name}, json={{"username": username, "password": password}}, timeout=10)')
            b("resp.raise_for_status()", 'session.headers["Authorization"] = "Bearer " + resp.json()["token"]', "return session")
    elif kind == "apikey":
        b("def list_$ents(api_key, page=1):")
        with b.ind():
            b.m(f'resp = requests.get(f"{{{name}}}/$ents", params={{"page": page}}, headers={{"X-Api-Key": api_key}}, timeout=10)')
            b("resp.raise_for_status()", "return resp.json()")
    else:
        b("def download_${ent}_report(user, password, day):")
        with b.ind():
            b.m(f'resp = requests.get(f"{{{name}}}/reports/{{day}}", auth=(user, password), timeout=30)')
            b("resp.raise_for_status()", "return resp.content")
    return b


def _c319_ftp(rng):
    b = _B(**_ctx(rng))
    style = rng.choice(["from", "module"])
    b("import os")
    if style == "from":
        b.d("from ftplib import FTP", "from ftplib import FTP_TLS")
        ctor_v, ctor_f = "FTP", "FTP_TLS"
    else:
        b("import ftplib")
        ctor_v, ctor_f = "ftplib.FTP", "ftplib.FTP_TLS"
    b("", "")
    b("def upload_${ent}_export(path, remote_dir=\"/incoming\"):")
    with b.ind():
        b.v(f'with {ctor_v}("ftp.$dom", timeout=$n) as ftp:', f'with {ctor_f}("ftp.$dom", timeout=$n) as ftp:')
        b.m('    ftp.login(os.environ["FTP_USER"], os.environ["FTP_PASSWORD"])')
        b.d([], "    ftp.prot_p()")
        b("    ftp.cwd(remote_dir)", '    with open(path, "rb") as fh:', '        ftp.storbinary(f"STOR {os.path.basename(path)}", fh)')
    return b


def _c319_telnet(rng):
    b = _B(**_ctx(rng))
    cmd = rng.choice(["show version", "show interfaces status", "show running-config", "uptime", "show ip route"])
    b.ctx["cmd"] = cmd
    b("import os")
    b.d("import telnetlib", "import paramiko")
    b("", "")
    b(rng.choice(["def device_report(host):", "def run_${svc}_check(host):"]))
    with b.ind():
        b.v(['tn = telnetlib.Telnet(host, 23, timeout=$n)',
             'tn.read_until(b"Username: ")',
             'tn.write(os.environ["DEVICE_USER"].encode() + b"\\n")',
             'tn.read_until(b"Password: ")',
             'tn.write(os.environ["DEVICE_PASSWORD"].encode() + b"\\n")',
             'tn.write(b"$cmd\\nexit\\n")',
             'return tn.read_all().decode("ascii", "replace")'],
            ["client = paramiko.SSHClient()",
             "client.load_system_host_keys()",
             'client.connect(host, username=os.environ["DEVICE_USER"], password=os.environ["DEVICE_PASSWORD"], timeout=$n)',
             'try:',
             '    _, stdout, _ = client.exec_command("$cmd")',
             '    return stdout.read().decode("ascii", "replace")',
             'finally:',
             '    client.close()'], marks=[0, 4])
    return b


def _c319_smtp(rng):
    b = _B(**_ctx(rng, port=rng.choice([25, 587, 587])))
    form = rng.choice(["starttls", "ssl"])
    b("import os", "import smtplib")
    if form == "ssl":
        b.d([], "import ssl")
    else:
        b.d([], "import ssl")
    b("from email.message import EmailMessage", "", "")
    b("def send_${ent}_digest(recipient, body):")
    with b.ind():
        b("msg = EmailMessage()", 'msg["Subject"] = "Your $ent digest"', 'msg["From"] = "digest@$dom"', 'msg["To"] = recipient')
        b("msg.set_content(body)")
        if form == "starttls":
            b.m('with smtplib.SMTP("smtp.$dom", $port, timeout=$n) as smtp:')
            b.d([], "    smtp.starttls(context=ssl.create_default_context())")
        else:
            b.v('with smtplib.SMTP("smtp.$dom", $port, timeout=$n) as smtp:',
                'with smtplib.SMTP_SSL("smtp.$dom", 465, context=ssl.create_default_context(), timeout=$n) as smtp:')
        b.m('    smtp.login(os.environ["SMTP_USER"], os.environ["SMTP_PASSWORD"])')
        b("    smtp.send_message(msg)")
    return b


def _c319_scheme(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["amqp", "redis", "ws", "ldap", "mongodb"])
    b("import os", "")
    if kind == "amqp":
        b("import pika", "", "")
        b("def broker_connection():")
        with b.ind():
            b('password = os.environ["RABBITMQ_PASSWORD"]')
            b.v('url = f"amqp://$svc:{password}@mq.$dom:5672/$svc"', 'url = f"amqps://$svc:{password}@mq.$dom:5671/$svc"')
            b.m("return pika.BlockingConnection(pika.URLParameters(url))")
    elif kind == "redis":
        b("import redis", "", "")
        b("def session_store():")
        with b.ind():
            b('password = os.environ["REDIS_PASSWORD"]')
            b.v('return redis.Redis.from_url(f"redis://:{password}@cache.$dom:6379/0")',
                'return redis.Redis.from_url(f"rediss://:{password}@cache.$dom:6380/0")')
    elif kind == "ws":
        b("import json", "", "import websockets", "", "")
        b("async def stream_$ents(handle):")
        with b.ind():
            b('token = os.environ["${SVC}_STREAM_TOKEN"]')
            b.v('async with websockets.connect(f"ws://stream.$dom/$ents?token={token}") as ws:',
                'async with websockets.connect(f"wss://stream.$dom/$ents?token={token}") as ws:')
            b("    async for message in ws:", "        await handle(json.loads(message))")
    elif kind == "ldap":
        b("from ldap3 import Connection, Server", "", "")
        b("def bind_service_account():")
        with b.ind():
            b.v('server = Server("ldap://ldap.$dom:389")', 'server = Server("ldaps://ldap.$dom:636", use_ssl=True)')
            b.m('return Connection(server, user="cn=$svc,ou=services,dc=example,dc=com", password=os.environ["LDAP_PASSWORD"], auto_bind=True)')
    else:
        b("from pymongo import MongoClient", "", "")
        b("def ${ents}_collection():")
        with b.ind():
            b('password = os.environ["MONGO_PASSWORD"]')
            b.v('client = MongoClient(f"mongodb://$svc:{password}@mongo.$dom:27017/$svc")',
                'client = MongoClient(f"mongodb://$svc:{password}@mongo.$dom:27017/$svc?tls=true")')
            b('return client["$svc"]["$ents"]')
    return b


def _h319_local_http(rng):
    b = _B(**_ctx(rng, port=rng.choice([8000, 8080, 9090, 9100, 5000])))
    b("import requests", "", "")
    kind = rng.choice(["health", "metrics"])
    if kind == "health":
        b("def wait_until_healthy(retries=$n, port=$port):")
        with b.ind():
            b("for _ in range(retries):", "    try:", '        resp = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)')
            b("        if resp.ok:", "            return True", "    except requests.ConnectionError:", "        pass", "return False")
    else:
        b('METRICS_URL = "http://localhost:$port/metrics"', "", "")
        b("def scrape_counter(name):")
        with b.ind():
            b("text = requests.get(METRICS_URL, timeout=2).text", "for line in text.splitlines():")
            b("    if line.startswith(name + \" \"):", "        return float(line.split()[1])", "return None")
    return b


def _h319_xml_ns(rng):
    b = _B(**_ctx(rng))
    b("import xml.etree.ElementTree as ET", "", 'SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"', "", "")
    b(rng.choice(["def build_sitemap(urls):", "def ${ent}_sitemap(urls):", "def render_${svc}_sitemap(urls):"]))
    with b.ind():
        b('ET.register_namespace("", SITEMAP_NS)', 'root = ET.Element(f"{{{SITEMAP_NS}}}urlset")', "for url in urls:")
        b('    node = ET.SubElement(root, f"{{{SITEMAP_NS}}}url")', '    ET.SubElement(node, f"{{{SITEMAP_NS}}}loc").text = url')
        b('return ET.tostring(root, encoding="unicode")')
    return b


def _h319_https_redirect(rng):
    b = _B(**_ctx(rng))
    b("from flask import Flask, redirect, request", "", "app = Flask(__name__)", "", "")
    b("@app.before_request", rng.choice(["def force_https():", "def redirect_to_tls():", "def enforce_${svc}_https():"]))
    b('    if request.headers.get("' + rng.choice(["X-Forwarded-Proto", "X-Forwarded-Scheme"]) + '", "https") == "http":')
    b('        return redirect(request.url.replace("http://", "https://", 1), code=301)')
    b("    return None")
    return b


def _h319_tls_clients(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["ftps", "smtp", "https"])
    b("import os")
    if kind == "ftps":
        b("from ftplib import FTP_TLS", "", "")
        b("def fetch_listing(remote_dir=\"/outgoing\"):")
        b('    with FTP_TLS("ftp.$dom", timeout=$n) as ftp:', '        ftp.login(os.environ["FTP_USER"], os.environ["FTP_PASSWORD"])')
        b("        ftp.prot_p()", "        return ftp.nlst(remote_dir)")
    elif kind == "smtp":
        b("import smtplib", "import ssl", "", "")
        b("def send_plain(msg):")
        b('    with smtplib.SMTP("localhost", 25, timeout=$n) as smtp:', "        smtp.send_message(msg)")
        b("", "", "def send_relay(msg):")
        b('    with smtplib.SMTP("smtp.$dom", 587, timeout=$n) as smtp:', "        smtp.starttls(context=ssl.create_default_context())")
        b('        smtp.login(os.environ["SMTP_USER"], os.environ["SMTP_PASSWORD"])', "        smtp.send_message(msg)")
    else:
        b("", "import requests", "", 'TOKEN_URL = "https://$host/oauth/token"', "", "")
        b("def get_access_token():")
        b('    data = {"grant_type": "client_credentials", "client_id": os.environ["CLIENT_ID"], "client_secret": os.environ["CLIENT_SECRET"]}')
        b("    resp = requests.post(TOKEN_URL, data=data, timeout=10)", "    resp.raise_for_status()", '    return resp.json()["access_token"]')
    return b


# ================================================================================ CWE-377 insecure temporary file
def _c377_mktemp(rng):
    b = _B(**_ctx(rng, suf=rng.choice([".csv", ".json", ".txt", ".xml", ".ndjson"])))
    b("import csv" if b.ctx["suf"] == ".csv" else "import json")
    b.osimp(rng, 0.4)
    b("import tempfile", "", "")
    b(rng.choice(["def export_${ents}(rows):", "def dump_${ent}_batch(rows, prefix=\"$svc-\"):"]))
    pre = ", prefix=prefix" if "prefix" in b.items[-1][1][0] else ""
    with b.ind():
        b.v(f'path = tempfile.mktemp(suffix="$suf"{pre})', f'fd, path = tempfile.mkstemp(suffix="$suf"{pre})')
        if b.ctx["suf"] == ".csv":
            b.v('with open(path, "w", newline="") as fh:', 'with os.fdopen(fd, "w", newline="") as fh:')
            b("    csv.writer(fh).writerows(rows)")
        else:
            b.v('with open(path, "w") as fh:', 'with os.fdopen(fd, "w") as fh:')
            b("    for row in rows:", '        fh.write(json.dumps(row) + "\\n")' if b.ctx["suf"] == ".ndjson" else "        json.dump(row, fh)")
        b("return path")
    return b


def _c377_fixed_path(rng):
    b = _B(**_ctx(rng, fname=rng.choice(["report.pdf", "invoice.pdf", "statement.pdf", "summary.pdf", "label.pdf"])))
    b.ctx["stem"], b.ctx["ext"] = b.ctx["fname"].split(".", 1)
    b("import subprocess")
    b.osimp(rng, 0.4, "import tempfile")
    b("", "")
    b("def render_${ent}_document(html: str) -> bytes:")
    with b.ind():
        form = rng.randrange(3)
        if form == 0:
            b.v('out_path = "/tmp/${ent}_$fname"', ['fd, out_path = tempfile.mkstemp(suffix=".$ext")', "os.close(fd)"], marks=[0])
            b.items.insert(0, ("d", [], ["import os"], None))
        elif form == 1:
            b.v('out_path = "/tmp/$svc/$fname"', ['handle = tempfile.NamedTemporaryFile(suffix=".$ext", delete=False)',
                                                   "out_path = handle.name", "handle.close()"])
        else:
            b.items.insert(0, ("s", ["import os"], [], None))
            b.v('out_path = os.path.join("/tmp", "$stem.$ext")', ['fd, out_path = tempfile.mkstemp(suffix=".$ext")', "os.close(fd)"], marks=[0])
        b('subprocess.run(["wkhtmltopdf", "-", out_path], input=html.encode(), check=True)')
        b('with open(out_path, "rb") as fh:', "    return fh.read()")
    return b


def _c377_predictable(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(3)
    b("import json", "import os")
    if form == 1:
        b("import time")
    if form == 2:
        b("import tempfile")
    else:
        b.d([], "import tempfile")
    b("", "")
    b(rng.choice(["def cache_${ent}_snapshot(data):", "def write_${svc}_state(data):"]))
    with b.ind():
        if form == 0:
            b.v('path = f"/tmp/${svc}_{os.getpid()}.json"', 'fd, path = tempfile.mkstemp(prefix="${svc}_", suffix=".json")')
        elif form == 1:
            b.v('path = os.path.join("/tmp", f"$ent-{int(time.time())}.json")', 'fd, path = tempfile.mkstemp(prefix="$ent-", suffix=".json")')
        else:
            b.v('path = os.path.join(tempfile.gettempdir(), "${svc}_cache.json")', 'fd, path = tempfile.mkstemp(prefix="${svc}_cache", suffix=".json")')
        b.v('with open(path, "w") as fh:', 'with os.fdopen(fd, "w") as fh:')
        b("    json.dump(data, fh)", "return path")
    return b


def _c377_mktemp_dir(rng):
    b = _B(**_ctx(rng))
    b("import os", "import shutil", "import subprocess", "import tempfile", "", "")
    b("def build_${svc}_bundle(source_dir, output):")
    with b.ind():
        b.v(["workdir = tempfile.mktemp(prefix=\"$svc-build-\")", "os.makedirs(workdir)"],
            'workdir = tempfile.mkdtemp(prefix="$svc-build-")')
        b("try:")
        b('    shutil.copytree(source_dir, os.path.join(workdir, "src"))')
        b('    subprocess.run(["tar", "-czf", output, "-C", workdir, "src"], check=True)')
        b("finally:", "    shutil.rmtree(workdir, ignore_errors=True)")
    return b


def _c377_script(rng):
    b = _B(**_ctx(rng))
    b("import subprocess")
    b.d([], "import tempfile")
    b("", "")
    tool = rng.choice([("psql", '"--dbname", database, "--file", script'), ("mysql", '"--database", database, "--execute", f"source {script}"'),
                       ("sqlite3", 'database, f".read {script}"')])
    b.ctx["fn"] = rng.choice(["run_migration_script", "apply_${ent}_migration", "load_${svc}_fixtures", "run_sql_file"]).replace("${ent}", b.ctx["ent"]).replace("${svc}", b.ctx["svc"])
    b.ctx["stem"] = rng.choice(["${svc}_migration", "${ent}_fixtures", "schema_update", "${svc}-seed"]).replace("${ent}", b.ctx["ent"]).replace("${svc}", b.ctx["svc"])
    b("def $fn(sql: str, database: str):")
    with b.ind():
        b.v(['script = "/tmp/$stem.sql"', 'with open(script, "w") as fh:', "    fh.write(sql)"],
            ['with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:', "    fh.write(sql)", "    script = fh.name"],
            marks=[0, 1])
        b(f'subprocess.run(["{tool[0]}", {tool[1]}], check=True)')
        b("return script")
    return b


def _h377_named(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["named", "tmpdir", "spooled", "mkstemp"])
    b("import json", "import os", "import tempfile", "", "")
    if kind == "named":
        b("def stage_${ent}_message(data):")
        b('    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:', "        json.dump(data, fh)")
        b("    return fh.name")
    elif kind == "tmpdir":
        b("def summarize_${ents}(rows):")
        b("    with tempfile.TemporaryDirectory(prefix=\"$svc-\") as workdir:")
        b('        path = os.path.join(workdir, "rows.json")', '        with open(path, "w") as fh:', "            json.dump(rows, fh)")
        b("        return os.path.getsize(path)")
    elif kind == "spooled":
        b("def buffer_${ent}_export(rows):")
        b("    buf = tempfile.SpooledTemporaryFile(max_size=1024 * 1024, mode=\"w+\")", "    json.dump(rows, buf)")
        b("    buf.seek(0)", "    return buf")
    else:
        b("def write_${svc}_state(data):")
        b('    fd, path = tempfile.mkstemp(prefix="${svc}-", suffix=".json")', '    with os.fdopen(fd, "w") as fh:')
        b("        json.dump(data, fh)", "    return path")
    return b


def _h377_pytest(rng):
    b = _B(**_ctx(rng))
    b("import json", "", "from ${svc}.export import export_${ents}", "", "")
    b("def test_export_writes_rows(tmp_path):")
    b('    target = tmp_path / "${ents}.json"', '    export_${ents}([{"id": 1}, {"id": 2}], target)')
    b("    assert json.loads(target.read_text()) == [{\"id\": 1}, {\"id\": 2}]")
    return b


# ================================================================================ CWE-732 over-permissive permissions
def _c732_chmod(rng):
    b = _B(**_ctx(rng))
    what = rng.choice(["secret", "script", "report"])
    wide = rng.choice(["0o777", "0o666", "0o777", "stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO"])
    if what == "script" and wide == "0o666":
        wide = "0o777"
    tight = {"secret": rng.choice(["0o600", "stat.S_IRUSR | stat.S_IWUSR"]), "script": rng.choice(["0o755", "0o700"]),
             "report": rng.choice(["0o644", "0o640"])}[what]
    b("import os")
    if "stat." in wide and "stat." in tight:
        b("import stat")
    elif "stat." in wide:
        b.d("import stat", [])
    elif "stat." in tight:
        b.d([], "import stat")
    b("", "")
    if what == "secret":
        b("def save_credentials(path, content: str):")
        b('    with open(path, "w") as fh:', "        fh.write(content)")
    elif what == "script":
        b("def install_hook(path, body: str):")
        b('    with open(path, "w") as fh:', '        fh.write("#!/bin/sh\\n" + body)')
    else:
        b("def publish_${ent}_report(path, text):")
        b('    with open(path, "w", encoding="utf-8") as fh:', "        fh.write(text)")
    b.v(f"    os.chmod(path, {wide})", f"    os.chmod(path, {tight})")
    return b


def _c732_umask(rng):
    b = _B(**_ctx(rng))
    b("import logging", "import os", "", "log = logging.getLogger(__name__)", "", "")
    b("def start_${svc}_worker(pidfile):")
    with b.ind():
        b.v(rng.choice(["os.umask(0)", "os.umask(0o000)", "old_mask = os.umask(0)"]),
            rng.choice(["os.umask(0o077)", "os.umask(0o027)", "os.umask(0o022)"]))
        b('with open(pidfile, "w") as fh:', "    fh.write(str(os.getpid()))")
        b('log.info("$svc worker started with pid %d", os.getpid())')
    return b


def _c732_makedirs(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(2)
    wide = rng.choice(["0o777", "0o777", "0o776"])
    tight = rng.choice(["0o700", "0o750", "0o755"])
    if form == 0:
        b("import os", "", "")
        b("def ensure_${svc}_dirs(base):")
        with b.ind():
            b('for name in ("cache", "uploads", "logs"):')
            b.v(f"    os.makedirs(os.path.join(base, name), mode={wide}, exist_ok=True)",
                f"    os.makedirs(os.path.join(base, name), mode={tight}, exist_ok=True)")
    else:
        b("from pathlib import Path", "", "")
        b("def ensure_${ent}_store(root: Path) -> Path:")
        with b.ind():
            b('store = root / "$ents"')
            b.v(f"store.mkdir(mode={wide}, parents=True, exist_ok=True)", f"store.mkdir(mode={tight}, parents=True, exist_ok=True)")
            b("return store")
    return b


def _c732_osopen(rng):
    b = _B(**_ctx(rng))
    b("import json", "import os", "", "")
    b(rng.choice(["def write_token_cache(path, tokens: dict):", "def save_${svc}_credentials(path, tokens: dict):",
                  "def store_${ent}_keys(path, tokens: dict):", "def persist_session_tokens(path, tokens):"]))
    with b.ind():
        b.v("fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, " + rng.choice(["0o666", "0o777", "0o666"]) + ")",
            "fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)")
        b('with os.fdopen(fd, "w") as fh:', "    json.dump(tokens, fh" + rng.choice([")", ", indent=2)", ", sort_keys=True)"]))
        if rng.random() < 0.4:
            b("return path")
    return b


def _c732_pathlib(rng):
    b = _B(**_ctx(rng))
    b("from pathlib import Path", "", "")
    form = rng.randrange(2)
    if form == 0:
        b("def store_private_key(directory: Path, pem: bytes) -> Path:")
        with b.ind():
            b('key_path = directory / "$svc.key"', "key_path.write_bytes(pem)")
            b.v("key_path.chmod(" + rng.choice(["0o666", "0o777", "0o644"]) + ")", "key_path.chmod(0o600)")
            b("return key_path")
    else:
        b("def create_socket_path(run_dir: Path) -> Path:")
        with b.ind():
            b('sock = run_dir / "$svc.sock"', "sock.touch(exist_ok=True)")
            b.v("sock.chmod(0o777)", "sock.chmod(0o660)")
            b("return sock")
    return b


def _h732_private(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["key", "script", "umask", "mkdir"])
    b("import os", "", "")
    if kind == "key":
        b("def save_key(path, pem: bytes):")
        b("    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)", '    with os.fdopen(fd, "wb") as fh:', "        fh.write(pem)")
        b("    os.chmod(path, 0o600)")
    elif kind == "script":
        b("def install_script(path, body):")
        b('    with open(path, "w") as fh:', "        fh.write(body)", "    os.chmod(path, 0o755)")
    elif kind == "umask":
        b("def daemon_setup(workdir):", "    os.umask(0o077)", "    os.chdir(workdir)")
    else:
        b("def ensure_cache_dir(base):", '    path = os.path.join(base, "$svc-cache")', "    os.makedirs(path, mode=0o700, exist_ok=True)", "    return path")
    return b


def _h732_audit(rng):
    b = _B(**_ctx(rng))
    b("import os", "import stat", "", "")
    b(rng.choice(["def check_key_permissions(path):", "def assert_private(path):", "def verify_${svc}_secret_mode(path):"]))
    with b.ind():
        b("mode = os.stat(path).st_mode")
        b("if mode & (stat.S_IRWXG | stat.S_IRWXO):")
        b('    raise PermissionError(f"{path} is accessible by other users; run chmod 600 {path}")')
        b("return stat.filemode(mode)")
    return b


# ================================================================================ CWE-352 CSRF protection disabled
def _c352_django_exempt(rng):
    b = _B(**_ctx(rng))
    fixdeco = rng.random() < 0.4
    b("import json", "", "from django.contrib.auth.decorators import login_required")
    b("from django.http import JsonResponse", "from django.shortcuts import get_object_or_404")
    b.d("from django.views.decorators.csrf import csrf_exempt", "from django.views.decorators.csrf import csrf_protect" if fixdeco else [])
    b("from django.views.decorators.http import require_POST", "", "from .models import $Ent", "", "")
    order = rng.randrange(2)
    if order:
        b("@login_required")
    b.v("@csrf_exempt", "@csrf_protect" if fixdeco else [])
    b("@require_POST")
    if not order:
        b("@login_required")
    b("def update_$ent(request, ${ent}_id):")
    with b.ind():
        b("$ent = get_object_or_404($Ent, pk=${ent}_id, owner=request.user)", "data = json.loads(request.body)")
        b('$ent.$field = data.get("$field", $ent.$field)', '$ent.save(update_fields=["$field"])')
        b('return JsonResponse({"id": $ent.pk, "$field": $ent.$field})')
    return b


def _c352_django_cbv(rng):
    b = _B(**_ctx(rng))
    b("from django.contrib.auth.mixins import LoginRequiredMixin", "from django.http import JsonResponse")
    b("from django.shortcuts import get_object_or_404")
    b.d(["from django.utils.decorators import method_decorator", "from django.views.decorators.csrf import csrf_exempt"], [])
    b("from django.views import View", "", "from .models import $Ent", "", "")
    b.v('@method_decorator(csrf_exempt, name="dispatch")', [])
    b("class ${Ent}ArchiveView(LoginRequiredMixin, View):")
    with b.ind():
        b("def post(self, request, pk):")
        b("    $ent = get_object_or_404($Ent, pk=pk, owner=request.user)", "    $ent.archived = True")
        b('    $ent.save(update_fields=["archived"])', '    return JsonResponse({"archived": True})')
    return b


def _c352_flask_config(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(3)
    b("import os", "", "from flask import Flask", "from flask_wtf.csrf import CSRFProtect", "", "csrf = CSRFProtect()", "", "")
    if form == 2:
        b("class Config:")
        with b.ind():
            b('SECRET_KEY = os.environ["SECRET_KEY"]', 'SQLALCHEMY_DATABASE_URI = os.environ["DATABASE_URL"]')
            if rng.random() < 0.5:
                b("SESSION_COOKIE_SECURE = True")
            b.v("WTF_CSRF_ENABLED = False", "WTF_CSRF_ENABLED = True")
            b("WTF_CSRF_TIME_LIMIT = 3600")
        b("", "")
    b("def create_app():")
    with b.ind():
        b("app = Flask(__name__)")
        if form == 0:
            b('app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]')
            b.v('app.config["WTF_CSRF_ENABLED"] = False', 'app.config["WTF_CSRF_ENABLED"] = True')
        elif form == 1:
            b("app.config.update(", '    SECRET_KEY=os.environ["SECRET_KEY"],')
            b.v("    WTF_CSRF_ENABLED=False,", "    WTF_CSRF_ENABLED=True,")
            b('    MAX_CONTENT_LENGTH=$n * 1024 * 1024,', ")")
        else:
            b("app.config.from_object(Config)")
        b("csrf.init_app(app)")
        b(*rng.sample(["register_blueprints(app)", "db.init_app(app)", "app.register_blueprint(${ents}_bp)", "login_manager.init_app(app)"], rng.randint(1, 2)))
        b("return app")
    return b


def _c352_flask_exempt(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(2)
    if form == 0:
        b("from flask import Flask, jsonify, request", "from flask_login import current_user, login_required")
        b("from flask_wtf.csrf import CSRFProtect", "", "from .models import $Ent, db", "", "app = Flask(__name__)", "csrf = CSRFProtect(app)", "", "")
        b('@app.route("/$ents/<int:${ent}_id>/delete", methods=["POST"])')
        b.v("@csrf.exempt", [])
        b("@login_required", "def delete_$ent(${ent}_id):")
        with b.ind():
            b("$ent = $Ent.query.filter_by(id=${ent}_id, owner_id=current_user.id).first_or_404()")
            b("db.session.delete($ent)", "db.session.commit()", 'return jsonify({"deleted": ${ent}_id})')
        return b
    b("from flask_wtf import FlaskForm", "from wtforms import StringField, TextAreaField", "from wtforms.validators import DataRequired, Length", "", "")
    b("class ${Ent}Form(FlaskForm):")
    with b.ind():
        b.v(["class Meta:", "    csrf = False", ""], [], marks=[1])
        b("title = StringField(\"Title\", validators=[DataRequired(), Length(max=120)])")
        b("body = TextAreaField(\"Body\", validators=[Length(max=5000)])")
    return b


def _c352_middleware(rng):
    b = _B(**_ctx(rng))
    b("import os", "", 'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]', 'ALLOWED_HOSTS = ["$host"]', "")
    b("MIDDLEWARE = [", '    "django.middleware.security.SecurityMiddleware",', '    "django.contrib.sessions.middleware.SessionMiddleware",')
    b('    "django.middleware.common.CommonMiddleware",', '    "django.middleware.csrf.CsrfViewMiddleware",')
    b('    "django.contrib.auth.middleware.AuthenticationMiddleware",', '    "django.contrib.messages.middleware.MessageMiddleware",', "]")
    b("")
    form = rng.randrange(3)
    if form == 0:
        b.v('MIDDLEWARE.remove("django.middleware.csrf.CsrfViewMiddleware")', [])
    elif form == 1:
        b.v('MIDDLEWARE = [m for m in MIDDLEWARE if m != "django.middleware.csrf.CsrfViewMiddleware"]', [])
    else:
        b('if os.environ.get("$SVC_LEGACY_CLIENTS") == "1":'.replace("$SVC_", "${SVC}_"))
        b.v('    MIDDLEWARE.remove("django.middleware.csrf.CsrfViewMiddleware")', '    CSRF_TRUSTED_ORIGINS = ["https://legacy.$dom"]')
    b('CSRF_TRUSTED_ORIGINS = ["https://$host"]' if form != 2 else 'LOGIN_URL = "/accounts/login/"')
    return b


def _c352_drf(rng):
    b = _B(**_ctx(rng))
    cls = rng.choice(["SessionAuthNoCsrf", "PlainSessionAuthentication", "CsrfFreeSessionAuthentication", "LaxSessionAuthentication"])
    b("from rest_framework import permissions, viewsets", "from rest_framework.authentication import SessionAuthentication", "")
    b("from .models import $Ent", "from .serializers import ${Ent}Serializer", "", "")
    b.v([f"class {cls}(SessionAuthentication):", "    def enforce_csrf(self, request):", "        return None", "", ""], [], marks=[1, 2])
    b("class ${Ent}ViewSet(viewsets.ModelViewSet):")
    with b.ind():
        b("serializer_class = ${Ent}Serializer")
        b.v(f"authentication_classes = [{cls}]", "authentication_classes = [SessionAuthentication]")
        b("permission_classes = [permissions.IsAuthenticated]", "", "def get_queryset(self):")
        b("    return $Ent.objects.filter(owner=self.request.user)")
    return b


def _h352_webhook(rng):
    b = _B(**_ctx(rng))
    b("import hashlib", "import hmac", "import os", "", "from django.http import HttpResponse, HttpResponseForbidden")
    b("from django.views.decorators.csrf import csrf_exempt", "from django.views.decorators.http import require_POST", "", "")
    b("@csrf_exempt", "@require_POST", "def ${svc}_webhook(request):")
    with b.ind():
        b('secret = os.environ["${SVC}_WEBHOOK_SECRET"].encode()', 'expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()')
        b('if not hmac.compare_digest(expected, request.headers.get("X-Signature", "")):', "    return HttpResponseForbidden()")
        b("handle_${ent}_event(request.body)", "return HttpResponse(status=204)")
    return b


def _h352_protected(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["django", "flask", "settings"])
    if kind == "django":
        b("from django.contrib.auth.decorators import login_required", "from django.shortcuts import redirect, render")
        b("from django.views.decorators.csrf import csrf_protect", "", "from .forms import ${Ent}Form", "", "")
        b("@login_required", "@csrf_protect", "def edit_$ent(request):")
        b("    form = ${Ent}Form(request.POST or None)", "    if request.method == \"POST\" and form.is_valid():")
        b("        form.save()", '        return redirect("$ent-list")', '    return render(request, "$ents/edit.html", {"form": form})')
    elif kind == "flask":
        b("import os", "", "from flask import Flask", "from flask_wtf.csrf import CSRFProtect", "", "")
        b("def create_app():", "    app = Flask(__name__)", '    app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]')
        b('    app.config["WTF_CSRF_TIME_LIMIT"] = 3600', "    CSRFProtect(app)", "    return app")
    else:
        b("MIDDLEWARE = [", '    "django.middleware.security.SecurityMiddleware",', '    "django.contrib.sessions.middleware.SessionMiddleware",')
        b('    "django.middleware.csrf.CsrfViewMiddleware",', '    "django.contrib.auth.middleware.AuthenticationMiddleware",', "]")
        b('CSRF_TRUSTED_ORIGINS = ["https://$host"]', "CSRF_COOKIE_SECURE = True")
    return b


def _h352_token_api(rng):
    b = _B(**_ctx(rng))
    b("from rest_framework import permissions, viewsets", "from rest_framework.authentication import TokenAuthentication", "")
    b("from .models import $Ent", "from .serializers import ${Ent}Serializer", "", "")
    b("class ${Ent}ApiViewSet(viewsets.ModelViewSet):")
    b("    serializer_class = ${Ent}Serializer", "    authentication_classes = [TokenAuthentication]")
    b("    permission_classes = [permissions.IsAuthenticated]", "", "    def get_queryset(self):")
    b("        return $Ent.objects.filter(owner=self.request.user)")
    return b


# ================================================================================ CWE-434 unrestricted upload
def _exts(rng, dot=False):
    pool = rng.choice([["png", "jpg", "jpeg", "gif"], ["pdf", "png", "jpg"], ["csv", "xlsx"], ["pdf", "docx", "txt"],
                       ["png", "jpg", "webp"]])
    return "{" + ", ".join(f'"{"." if dot else ""}{e}"' for e in pool) + "}"


def _c434_flask(rng):
    b = _B(**_ctx(rng, exts=_exts(rng), updir=rng.choice(["/srv/$svc/uploads", "/var/lib/$svc/files", "/data/$svc/attachments"])))
    b.ctx["updir"] = b.ctx["updir"].replace("$svc", b.ctx["svc"])
    bp = rng.random() < 0.4
    b("import os", "")
    b(f"from flask import {'Blueprint' if bp else 'Flask'}, jsonify, request")
    b.d([], "from werkzeug.utils import secure_filename")
    b("", 'bp = Blueprint("$ents", __name__)' if bp else "app = Flask(__name__)", 'UPLOAD_FOLDER = "$updir"')
    b.d([], "ALLOWED_EXTENSIONS = $exts")
    b("", "")
    app = "bp" if bp else "app"
    b(f'@{app}.route("/$ents/<int:${{ent}}_id>/attachments", methods=["POST"])' if rng.random() < 0.5
      else f'@{app}.post("/$ents/<int:${{ent}}_id>/attachments")')
    b("def upload_${ent}_attachment(${ent}_id):")
    with b.ind():
        field = rng.choice(["file", "attachment", "upload"])
        b(f'upload = request.files.get("{field}")', 'if upload is None or upload.filename == "":')
        b('    return jsonify({"error": "no file"}), 400')
        check = ["filename = secure_filename(upload.filename)",
                 'if "." not in filename or filename.rsplit(".", 1)[1].lower() not in ALLOWED_EXTENSIONS:',
                 '    return jsonify({"error": "file type not allowed"}), 400']
        if rng.random() < 0.5:
            b.v("destination = os.path.join(UPLOAD_FOLDER, upload.filename)",
                check + ["destination = os.path.join(UPLOAD_FOLDER, filename)"])
            b.m("upload.save(destination)")
        else:
            b.v("filename = upload.filename", check)
            b.m("upload.save(os.path.join(UPLOAD_FOLDER, filename))")
        b('return jsonify({"${ent}_id": ${ent}_id, "stored": True}), 201')
    return b


def _c434_django(rng):
    b = _B(**_ctx(rng, exts=_exts(rng, dot=True)))
    b("import os")
    b.d([], "import uuid")
    b("", "from django.conf import settings", "from django.contrib.auth.decorators import login_required")
    b("from django.http import JsonResponse", "from django.views.decorators.http import require_POST", "")
    b.d([], ["ALLOWED_EXTENSIONS = $exts", ""])
    b("")
    b("@login_required", "@require_POST", "def upload_${ent}_document(request):")
    with b.ind():
        b('upload = request.FILES["' + rng.choice(["document", "file", "attachment"]) + '"]')
        b.v("name = upload.name",
            ["ext = os.path.splitext(upload.name)[1].lower()", "if ext not in ALLOWED_EXTENSIONS:",
             '    return JsonResponse({"error": "unsupported file type"}, status=400)', 'name = f"{uuid.uuid4().hex}{ext}"'])
        b('path = os.path.join(settings.MEDIA_ROOT, "$ents", name)')
        b.m('with open(path, "wb") as dest:')
        b("    for chunk in upload.chunks():", "        dest.write(chunk)")
        b('return JsonResponse({"stored": name}, status=201)')
    return b


def _c434_fastapi(rng):
    b = _B(**_ctx(rng, exts=_exts(rng, dot=True)))
    b.d([], "import uuid")
    b("from pathlib import Path", "", "from fastapi import FastAPI, File, HTTPException, UploadFile", "", "app = FastAPI()")
    b('UPLOAD_DIR = Path("/var/lib/$svc/uploads")')
    b.d([], "ALLOWED_SUFFIXES = $exts")
    b("", "")
    b('@app.post("/$ents/upload")', "async def upload_$ent(file: UploadFile = File(...)):")
    with b.ind():
        b.v("destination = UPLOAD_DIR / file.filename",
            ['suffix = Path(file.filename or "").suffix.lower()', "if suffix not in ALLOWED_SUFFIXES:",
             '    raise HTTPException(status_code=400, detail="unsupported file type")',
             'destination = UPLOAD_DIR / f"{uuid.uuid4().hex}{suffix}"'])
        b.m("destination.write_bytes(await file.read())")
        b('return {"stored": destination.name}')
    return b


def _c434_aiohttp(rng):
    b = _B(**_ctx(rng, exts=_exts(rng, dot=True)))
    b("import os")
    b.d([], "import uuid")
    b("", "from aiohttp import web", "", 'UPLOAD_DIR = "/var/lib/$svc/uploads"')
    b.d([], "ALLOWED = $exts")
    b("routes = web.RouteTableDef()", "", "")
    b('@routes.post("/$ents/upload")', "async def upload_$ent(request):")
    with b.ind():
        b("reader = await request.multipart()", "field = await reader.next()")
        b('if field is None or field.name != "file":', '    return web.json_response({"error": "file field required"}, status=400)')
        b.v("filename = field.filename",
            ['ext = os.path.splitext(field.filename or "")[1].lower()', "if ext not in ALLOWED:",
             '    return web.json_response({"error": "unsupported file type"}, status=400)', 'filename = f"{uuid.uuid4().hex}{ext}"'])
        b.m('with open(os.path.join(UPLOAD_DIR, filename), "wb") as fh:')
        b("    while chunk := await field.read_chunk():", "        fh.write(chunk)")
        b('return web.json_response({"stored": filename}, status=201)')
    return b


def _c434_mimetype(rng):
    b = _B(**_ctx(rng, exts=_exts(rng)))
    b("import os")
    b.d([], "import uuid")
    b("", "from flask import Flask, jsonify, request")
    s3 = rng.random() < 0.5
    if s3:
        b("import boto3")
    b("", "app = Flask(__name__)")
    if s3:
        b('s3 = boto3.client("s3")', 'BUCKET = "$svc-public-assets"')
    else:
        b('AVATAR_DIR = "/srv/$svc/static/avatars"')
    b.d([], "ALLOWED_EXTENSIONS = $exts")
    b("", "")
    b('@app.post("/$ents/<int:${ent}_id>/image")', "def upload_${ent}_image(${ent}_id):")
    with b.ind():
        b('upload = request.files["image"]', 'if not upload.mimetype.startswith("image/"):', '    return jsonify({"error": "images only"}), 400')
        fixl = ['ext = os.path.splitext(upload.filename)[1].lower().lstrip(".")', "if ext not in ALLOWED_EXTENSIONS:",
                '    return jsonify({"error": "file type not allowed"}), 400']
        if s3:
            b.v('key = f"$ents/{${ent}_id}/{upload.filename}"', fixl + ['key = f"$ents/{${ent}_id}/{uuid.uuid4().hex}.{ext}"'])
            b.m('s3.upload_fileobj(upload, BUCKET, key, ExtraArgs={"ContentType": upload.mimetype, "ACL": "public-read"})')
            b('return jsonify({"key": key}), 201')
        else:
            b.v("path = os.path.join(AVATAR_DIR, upload.filename)", fixl + ['path = os.path.join(AVATAR_DIR, f"{uuid.uuid4().hex}.{ext}")'])
            b.m("upload.save(path)")
            b('return jsonify({"path": os.path.basename(path)}), 201')
    return b


def _h434_validated(rng):
    b = _B(**_ctx(rng, exts=_exts(rng)))
    b("import os", "import uuid", "", "from flask import Flask, abort, jsonify, request", "from werkzeug.utils import secure_filename", "")
    b("app = Flask(__name__)", 'app.config["MAX_CONTENT_LENGTH"] = $n * 1024 * 1024', 'UPLOAD_FOLDER = "/srv/$svc/uploads"')
    b("ALLOWED_EXTENSIONS = $exts", "", "")
    b('@app.post("/$ents/upload")', "def upload_$ent():")
    with b.ind():
        b('upload = request.files.get("file")', "if upload is None:", "    abort(400)")
        b("name = secure_filename(upload.filename or \"\")", 'ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""')
        b("if ext not in ALLOWED_EXTENSIONS:", "    abort(415)", 'stored = f"{uuid.uuid4().hex}.{ext}"')
        b("upload.save(os.path.join(UPLOAD_FOLDER, stored))", 'return jsonify({"id": stored}), 201')
    return b


def _h434_inmemory(rng):
    b = _B(**_ctx(rng))
    b("import csv", "import io", "", "from flask import Flask, jsonify, request", "", "app = Flask(__name__)", "", "")
    b('@app.post("/$ents/import")', "def import_$ents():")
    with b.ind():
        b('upload = request.files["file"]', 'text = io.TextIOWrapper(upload.stream, encoding="utf-8")')
        b("rows = list(csv.DictReader(text))", 'created = [create_$ent(row["$field"]) for row in rows if row.get("$field")]')
        b('return jsonify({"imported": len(created)})')
    return b


def _h434_pillow(rng):
    b = _B(**_ctx(rng))
    b("import uuid", "from pathlib import Path", "", "from fastapi import FastAPI, HTTPException, UploadFile", "from PIL import Image, UnidentifiedImageError", "")
    b("app = FastAPI()", 'THUMB_DIR = Path("/var/lib/$svc/thumbs")', "", "")
    b('@app.post("/$ents/{${ent}_id}/thumbnail")', "async def upload_thumbnail(${ent}_id: int, file: UploadFile):")
    with b.ind():
        b("try:", "    image = Image.open(file.file)", "    image.verify()", "    image = Image.open(file.file)")
        b("except UnidentifiedImageError:", '    raise HTTPException(status_code=400, detail="not an image")')
        b('target = THUMB_DIR / f"{uuid.uuid4().hex}.png"', "image.thumbnail((256, 256))", 'image.save(target, format="PNG")')
        b('return {"thumbnail": target.name}')
    return b


# ================================================================================ CWE-215 debug mode in production
def _c215_flask_run(rng):
    b = _B(**_ctx(rng, port=rng.choice([5000, 8000, 8080])))
    b("import os", "", "from flask import Flask, jsonify", "", "app = Flask(__name__)", "", "")
    b('@app.get("/healthz")', "def healthz():", '    return jsonify(status="ok")', "", "")
    b('@app.get("/$ents/<int:${ent}_id>")', "def get_$ent(${ent}_id):", '    return jsonify(load_$ent(${ent}_id))', "", "")
    b('if __name__ == "__main__":')
    envf = rng.choice(['os.environ.get("FLASK_DEBUG") == "1"', 'os.environ.get("FLASK_DEBUG", "0") == "1"',
                       'os.environ.get("APP_DEBUG", "false").lower() == "true"'])
    with b.ind():
        form = rng.randrange(3)
        if form == 0:
            b.v('app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "$port")), debug=True)',
                f'app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "$port")), debug={envf})')
        elif form == 1:
            b.v("app.run(debug=True)", f"app.run(debug={envf})")
        else:
            b.v("app.debug = True", f"app.debug = {envf}")
            b.m('app.run(host="0.0.0.0", port=$port)')
    return b


def _c215_django(rng):
    b = _B(**_ctx(rng))
    b("import os", "from pathlib import Path", "", "BASE_DIR = Path(__file__).resolve().parent.parent")
    b('SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]')
    b.v("DEBUG = True", rng.choice(['DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"',
                                    'DEBUG = os.environ.get("DJANGO_DEBUG", "false").lower() == "true"', "DEBUG = False"]))
    b('ALLOWED_HOSTS = ["$host"' + (', "www.$dom"]' if rng.random() < 0.5 else "]"))
    b("", "INSTALLED_APPS = [", '    "django.contrib.admin",', '    "django.contrib.auth",', '    "django.contrib.contenttypes",')
    b('    "$ents",', "]", "", 'ROOT_URLCONF = "$svc.urls"', 'STATIC_ROOT = BASE_DIR / "staticfiles"')
    return b


def _c215_flask_config(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(3)
    envf = rng.choice(['os.environ.get("FLASK_DEBUG") == "1"', 'os.environ.get("APP_DEBUG", "0") == "1"'])
    b("import os", "", "from flask import Flask", "", "")
    cls = rng.choice(["ProductionConfig", "Config"])
    if form == 2:
        b(f"class {cls}:")
        with b.ind():
            b('SECRET_KEY = os.environ["SECRET_KEY"]', 'SQLALCHEMY_DATABASE_URI = os.environ["DATABASE_URL"]')
            b.v("DEBUG = True", rng.choice(["DEBUG = False", f"DEBUG = {envf}"]))
            b("PREFERRED_URL_SCHEME = \"https\"")
        b("", "")
    b("def create_app():")
    with b.ind():
        b("app = Flask(__name__)")
        if form == 0:
            b('app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]')
            b.v('app.config["DEBUG"] = True', f'app.config["DEBUG"] = {envf}')
        elif form == 1:
            b("app.config.from_mapping(", '    SECRET_KEY=os.environ["SECRET_KEY"],')
            b.v("    DEBUG=True,", f"    DEBUG={envf},")
            b('    SQLALCHEMY_DATABASE_URI=os.environ["DATABASE_URL"],', ")")
        else:
            b(f"app.config.from_object({cls})")
        b(*rng.sample(["register_blueprints(app)", "db.init_app(app)", "login_manager.init_app(app)", "app.register_blueprint(${ents}_bp)",
                       'app.logger.setLevel("INFO")'], rng.randint(1, 3)))
        b("return app")
    return b


def _c215_asgi(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(2)
    envf = rng.choice(['os.environ.get("APP_DEBUG", "0") == "1"', 'os.environ.get("DEBUG", "false").lower() == "true"'])
    b("import os", "")
    if form == 0:
        b("from fastapi import FastAPI", "")
        b.v('app = FastAPI(title="$Svc API", debug=True)', f'app = FastAPI(title="$Svc API", debug={envf})')
        b("", "")
        b('@app.get("/$ents/{${ent}_id}")', "async def read_$ent(${ent}_id: int):", "    return await load_$ent(${ent}_id)")
    else:
        b("from starlette.applications import Starlette", "from starlette.routing import Route", "")
        b("routes = [", '    Route("/$ents", list_$ents),', '    Route("/healthz", healthz),', "]")
        b.v("app = Starlette(debug=True, routes=routes)", f"app = Starlette(debug={envf}, routes=routes)")
    return b


def _c215_werkzeug(rng):
    b = _B(**_ctx(rng, port=rng.choice([5000, 8000, 8080])))
    form = rng.randrange(3)
    b("import os", "")
    if form == 0:
        b("from werkzeug.serving import run_simple", "", "from $svc.app import create_app", "", "")
        b('if __name__ == "__main__":')
        with b.ind():
            b("app = create_app()")
            b.v('run_simple("0.0.0.0", $port, app, use_reloader=True, use_debugger=True)',
                'run_simple("0.0.0.0", $port, app, use_reloader=False, use_debugger=os.environ.get("WERKZEUG_DEBUG") == "1")')
    elif form == 1:
        b("from werkzeug.debug import DebuggedApplication", "", "from $svc.app import create_app", "", "app = create_app()")
        b.v("app.wsgi_app = DebuggedApplication(app.wsgi_app, evalex=True)",
            ['if os.environ.get("WERKZEUG_DEBUG") == "1":', "    app.wsgi_app = DebuggedApplication(app.wsgi_app, evalex=False)"])
        b("application = app")
    else:
        b("import bottle", "", "from $svc.routes import app", "", "")
        b('if __name__ == "__main__":')
        with b.ind():
            b.v("bottle.debug(True)", 'bottle.debug(os.environ.get("BOTTLE_DEBUG") == "1")')
            b.m('bottle.run(app, host="0.0.0.0", port=$port)')
    return b


def _h215_env(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["flask", "django", "logging"])
    if kind == "flask":
        b("import os", "", "from $svc import create_app", "", "app = create_app()", "", 'if __name__ == "__main__":')
        b('    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), debug=os.environ.get("FLASK_DEBUG") == "1")')
    elif kind == "django":
        b("import os", "", 'DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"', 'ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "$host").split(",")')
        b("if DEBUG:", '    INTERNAL_IPS = ["127.0.0.1"]')
    else:
        b("import argparse", "import logging", "", "")
        b("def main(argv=None):")
        b('    parser = argparse.ArgumentParser(prog="$svc-sync")', '    parser.add_argument("--debug", action="store_true", help="verbose logging")')
        b("    args = parser.parse_args(argv)", "    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO)")
        b('    logging.getLogger(__name__).debug("arguments: %s", args)', "    return run_sync()")
    return b


def _h215_test_config(rng):
    b = _B(**_ctx(rng))
    b("import pytest", "", "from $svc import create_app", "", "", "@pytest.fixture")
    b("def client():", '    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})')
    b("    with app.test_client() as client:", "        yield client", "", "")
    b("def test_list_$ents(client):", '    resp = client.get("/$ents")', "    assert resp.status_code == 200")
    return b


# ================================================================================ CWE-209 exception text to users
def _exc_expr(rng, var):
    return rng.choice([f"str({var})", f"repr({var})", f'f"{{type({var}).__name__}}: {{{var}}}"', f"{var}.args[0] if {var}.args else str({var})",
                       f"str({var})"])


def _c209_handler(rng):
    b = _B(**_ctx(rng))
    w = _W(rng)
    var = rng.choice(["exc", "e", "err", "error"])
    logged = rng.random() < 0.45
    lg = w.log
    if w.fw == "django":
        b("import json")
    b("import logging", "")
    w.std_imports(b, "get")
    b("", f"{lg} = logging.getLogger(__name__)")
    w.app_line(b)
    b("", "")
    w.route(b, "GET", "/$ents/{${ent}_id}/summary", "${ent}_summary")
    with b.ind():
        b("try:", "    summary = build_${ent}_summary(${ent}_id)", f"except Exception as {var}:")
        with b.ind():
            logline = f'{lg}.exception("summary failed for $ent %s", ${{ent}}_id)'
            generic = rng.choice(['{"error": "internal server error"}', '{"error": "could not build summary"}', '{"detail": "unexpected error"}'])
            key = generic.split('"')[1]
            if logged:
                b(logline)
                b.v(w.reply(f'{{"{key}": {_exc_expr(rng, var)}}}', 500), w.reply(generic, 500))
            else:
                b.v(w.reply(f'{{"{key}": {_exc_expr(rng, var)}}}', 500), [logline, w.reply(generic, 500)], marks=[0])
        b(w.reply("summary"))
    return b


def _c209_traceback(rng):
    b = _B(**_ctx(rng))
    w = _W(rng)
    lg = w.log
    if w.fw == "django":
        b("import json")
    b("import logging")
    b.d("import traceback", "import uuid")
    b("")
    w.std_imports(b, "post")
    b("", f"{lg} = logging.getLogger(__name__)")
    w.app_line(b)
    b("", "")
    w.route(b, "POST", "/$ents/import", "bulk_import_$ents")
    with b.ind():
        b(f"message = {w.json()}")
        b("try:", '    count = import_$ents(message["items"])', "except Exception:")
        with b.ind():
            tb = rng.choice(["traceback.format_exc()", '"".join(traceback.format_exc().splitlines(keepends=True)[-5:])'])
            b.v(w.reply(f'{{"error": "import failed", "trace": {tb}}}', 500),
                ["error_id = uuid.uuid4().hex", f'{lg}.exception("import of $ents failed (%s)", error_id)',
                 w.reply('{"error": "import failed", "error_id": error_id}', 500)], marks=[0])
        b(w.reply('{"imported": count}'))
    return b


def _c209_error_handler(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["flask", "fastapi", "aiohttp", "django"])
    var = rng.choice(["exc", "e", "error"])
    b("import logging")
    tb = rng.random() < 0.35
    if tb:
        b.d("import traceback", [])
    b("")
    generic = rng.choice(['"internal server error"', '"something went wrong"', '"unexpected error"'])
    detail = f"traceback.format_exc()" if tb else _exc_expr(rng, var)
    if kind == "flask":
        b("from flask import Flask, jsonify", "", "app = Flask(__name__)", "log = logging.getLogger(__name__)", "", "")
        b("@app.errorhandler(Exception)", f"def handle_unexpected({var}):")
        b.d([], f'    log.exception("unhandled error")')
        b.v(f'    return jsonify({{"error": {detail}}}), 500', f'    return jsonify({{"error": {generic}}}), 500')
    elif kind == "fastapi":
        b("from fastapi import FastAPI, Request", "from fastapi.responses import JSONResponse", "", "app = FastAPI()", "log = logging.getLogger(__name__)", "", "")
        b("@app.exception_handler(Exception)", f"async def handle_unexpected(request: Request, {var}: Exception):")
        b.d([], f'    log.exception("unhandled error on %s", request.url.path)')
        b.v(f'    return JSONResponse({{"detail": {detail}}}, status_code=500)', f'    return JSONResponse({{"detail": {generic}}}, status_code=500)')
    elif kind == "aiohttp":
        b("from aiohttp import web", "", "log = logging.getLogger(__name__)", "", "")
        b("@web.middleware", "async def error_middleware(request, handler):")
        with b.ind():
            b("try:", "    return await handler(request)", "except web.HTTPException:", "    raise", f"except Exception as {var}:")
            b.d([], '    log.exception("unhandled error on %s", request.path)')
            b.v(f'    return web.json_response({{"error": {detail}}}, status=500)', f'    return web.json_response({{"error": {generic}}}, status=500)')
    else:
        b("from django.http import JsonResponse", "", "log = logging.getLogger(__name__)", "", "")
        b("class ApiErrorMiddleware:")
        with b.ind():
            b("def __init__(self, get_response):", "    self.get_response = get_response", "")
            b("def __call__(self, request):", "    return self.get_response(request)", "")
            b(f"def process_exception(self, request, {var}):")
            b.d([], '    log.exception("unhandled error on %s", request.path)')
            b.v(f'    return JsonResponse({{"error": {detail}}}, status=500)', f'    return JsonResponse({{"error": {generic}}}, status=500)')
    return b


def _c209_db_error(rng):
    b = _B(**_ctx(rng))
    w = _W(rng, ("flask", "fastapi", "aiohttp"))
    lg = w.log
    var = rng.choice(["exc", "err"])
    b("import logging", "")
    b("from sqlalchemy.exc import IntegrityError, SQLAlchemyError")
    w.std_imports(b, "post")
    b("", f"{lg} = logging.getLogger(__name__)")
    w.app_line(b)
    b("", "")
    w.route(b, "POST", "/$ents", "create_$ent")
    with b.ind():
        b(f"data = {w.json()}")
        b("try:", '    $ent = save_$ent(data)')
        b(f"except IntegrityError:", "    " + w.reply('{"error": "$ent already exists"}', 409))
        b(f"except SQLAlchemyError as {var}:")
        with b.ind():
            b(f'{lg}.exception("could not save $ent")')
            expr = rng.choice([f"str({var}.orig)", f"str({var})", f"{var}.args[0]", f'f"database error: {{{var}}}"'])
            b.v(w.reply(f'{{"error": {expr}}}', 500), w.reply('{"error": "could not save $ent"}', 500))
        b(w.reply('{"id": $ent.id}', 201))
    return b


def _c209_http_exception(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["fastapi", "flask", "drf"])
    var = rng.choice(["exc", "e", "err"])
    b("import logging", "")
    if kind == "fastapi":
        b("from fastapi import APIRouter, HTTPException", "", 'router = APIRouter(prefix="/$ents")', "log = logging.getLogger(__name__)", "", "")
        b('@router.post("/{${ent}_id}/sync")', "async def sync_$ent(${ent}_id: int):")
        with b.ind():
            b("try:", "    return await push_${ent}_upstream(${ent}_id)", f"except Exception as {var}:")
            b.d([], f'    log.exception("sync failed for $ent %s", ${{ent}}_id)')
            b.v(f"    raise HTTPException(status_code=502, detail={_exc_expr(rng, var)})",
                '    raise HTTPException(status_code=502, detail="upstream sync failed")')
    elif kind == "flask":
        b("from flask import Blueprint, abort, jsonify", "", 'bp = Blueprint("$ents", __name__)', "log = logging.getLogger(__name__)", "", "")
        b('@bp.post("/$ents/<int:${ent}_id>/sync")', "def sync_$ent(${ent}_id):")
        with b.ind():
            b("try:", "    result = push_${ent}_upstream(${ent}_id)", f"except Exception as {var}:")
            b.d([], f'    log.exception("sync failed for $ent %s", ${{ent}}_id)')
            b.v(f"    abort(502, description={_exc_expr(rng, var)})", '    abort(502, description="upstream sync failed")')
            b("return jsonify(result)")
    else:
        b("from rest_framework.decorators import api_view", "from rest_framework.response import Response", "")
        b("log = logging.getLogger(__name__)", "", "")
        b('@api_view(["POST"])', "def sync_$ent(request, pk):")
        with b.ind():
            b("try:", "    result = push_${ent}_upstream(pk)", f"except Exception as {var}:")
            b.d([], f'    log.exception("sync failed for $ent %s", pk)')
            b.v(f'    return Response({{"detail": {_exc_expr(rng, var)}}}, status=502)',
                '    return Response({"detail": "upstream sync failed"}, status=502)')
            b("return Response(result)")
    return b


def _h209_logged(rng):
    b = _B(**_ctx(rng))
    w = _W(rng)
    if w.fw == "django":
        b("import json")
    b("import logging", "import uuid", "")
    w.std_imports(b, "get")
    b("", "logger = logging.getLogger(__name__)")
    w.app_line(b)
    b("", "")
    w.route(b, "GET", "/$ents/{${ent}_id}", "get_$ent")
    with b.ind():
        b("try:", "    $ent = load_$ent(${ent}_id)", "except LookupError:", "    " + w.reply('{"error": "not found"}', 404))
        b("except Exception:", "    incident = uuid.uuid4().hex", '    logger.exception("loading $ent %s failed (%s)", ${ent}_id, incident)')
        b("    " + w.reply('{"error": "internal error", "incident": incident}', 500))
        b(w.reply("$ent"))
    return b


def _h209_validation(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["marshmallow", "pydantic"])
    if kind == "marshmallow":
        b("from flask import Flask, jsonify, request", "from marshmallow import Schema, ValidationError, fields", "", "app = Flask(__name__)", "", "")
        b("class ${Ent}Schema(Schema):", "    $field = fields.String(required=True)", "    quantity = fields.Integer(load_default=1)", "", "")
        b('@app.post("/$ents")', "def create_$ent():")
        b("    try:", "        data = ${Ent}Schema().load(request.get_json())", "    except ValidationError as err:")
        b('        return jsonify({"errors": err.messages}), 400', "    return jsonify(save_$ent(data)), 201")
    else:
        b("from flask import Flask, jsonify, request", "from pydantic import BaseModel, ValidationError", "", "app = Flask(__name__)", "", "")
        b("class ${Ent}In(BaseModel):", "    $field: str", "    quantity: int = 1", "", "")
        b('@app.post("/$ents")', "def create_$ent():")
        b("    try:", "        data = ${Ent}In.model_validate(request.get_json())", "    except ValidationError as exc:")
        b('        return jsonify({"errors": exc.errors(include_url=False)}), 422', "    return jsonify(save_$ent(data)), 201")
    return b


def _h209_cli(rng):
    b = _B(**_ctx(rng))
    b("import sys", "import traceback", "", "")
    b("def main(argv):")
    with b.ind():
        b("try:", "    count = sync_$ents(argv[1:])", "except KeyboardInterrupt:", "    return 130")
        b("except Exception:", "    traceback.print_exc()", '    print("sync failed, see the traceback above", file=sys.stderr)', "    return 1")
        b('print(f"synced {count} $ents")', "return 0")
    b("", "", 'if __name__ == "__main__":', "    sys.exit(main(sys.argv))")
    return b


def _h209_abort(rng):
    b = _B(**_ctx(rng))
    b("from flask import Blueprint, abort, jsonify", "", 'bp = Blueprint("$ents", __name__)', "", "")
    b('@bp.get("/$ents/<int:${ent}_id>")', "def show_$ent(${ent}_id):")
    b("    $ent = find_$ent(${ent}_id)", "    if $ent is None:", '        abort(404, description="$ent not found")')
    b("    return jsonify($ent.to_dict())")
    return b


# ================================================================================ CWE-614 cookie flags
def _cookie_kw(rng, fw="flask"):
    """(vulnerable kwargs, fixed kwargs) for a session-like cookie."""
    same = rng.choice(['"Lax"', '"Strict"'])
    vuln = rng.choice([[], ["secure=False"], ["secure=False", "httponly=False"], ["httponly=False"], ["secure=True"],
                       ["httponly=True"], ["secure=False", "httponly=True"]])
    fix = ["secure=True", "httponly=True", f"samesite={same}"]
    return vuln, fix


def _set_cookie(b, rng, obj, name, value, extra, multiline):
    vk, fk = _cookie_kw(rng)
    if not multiline:
        b.v(f"{obj}.set_cookie({', '.join([name, value, *extra, *vk])})", f"{obj}.set_cookie({', '.join([name, value, *extra, *fk])})")
        return
    b.m(f"{obj}.set_cookie(")
    b(f"    {name},", f"    {value},", *[f"    {e}," for e in extra])
    b.v([f"    {k}," for k in vk], [f"    {k}," for k in fk])
    b(")")


def _c614_flask(rng):
    b = _B(**_ctx(rng))
    cname = rng.choice(['"session_id"', '"sid"', '"auth_token"', '"remember_token"', '"refresh_token"'])
    b("from flask import Flask, jsonify, make_response, request", "", "app = Flask(__name__)", "", "")
    b('@app.post("/login")', "def login():")
    with b.ind():
        b("data = request.get_json()", 'user = authenticate(data.get("username"), data.get("password"))')
        b("if user is None:", '    return jsonify({"error": "invalid credentials"}), 401')
        b("token = create_session(user.id)", 'resp = make_response(jsonify({"user": user.id}))')
        extra = rng.choice([[], ["max_age=3600"], ["max_age=60 * 60 * 24 * 14"], ['path="/"']])
        _set_cookie(b, rng, "resp", cname, "token", extra, rng.random() < 0.4)
        b("return resp")
    return b


def _c614_django(rng):
    b = _B(**_ctx(rng))
    cname = rng.choice(['"auth"', '"api_session"', '"remember_me"', '"access_token"'])
    b("from django.contrib.auth import authenticate", "from django.http import JsonResponse", "from django.views.decorators.http import require_POST", "", "")
    b("@require_POST", "def token_login(request):")
    with b.ind():
        b('user = authenticate(request, username=request.POST.get("username"), password=request.POST.get("password"))')
        b("if user is None:", '    return JsonResponse({"error": "invalid credentials"}, status=401)')
        b("token = issue_token(user)", 'response = JsonResponse({"ok": True})')
        extra = rng.choice([["max_age=3600"], ["max_age=86400"], []])
        _set_cookie(b, rng, "response", cname, "token", extra, rng.random() < 0.4)
        b("return response")
    return b


def _c614_django_settings(rng):
    b = _B(**_ctx(rng))
    b("import os", "", 'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]', 'ALLOWED_HOSTS = ["$host"]', "")
    b('SESSION_ENGINE = "django.contrib.sessions.backends.cache"', "SESSION_COOKIE_AGE = 60 * 60 * $n")
    which = rng.choice([["SESSION_COOKIE_SECURE"], ["SESSION_COOKIE_HTTPONLY"], ["SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY"],
                        ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"]])
    for k in ["SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE"]:
        if k in which:
            b.v(f"{k} = False", f"{k} = True")
        elif rng.random() < 0.6:
            b(f"{k} = True")
    b('SESSION_COOKIE_SAMESITE = "Lax"')
    return b


def _c614_flask_config(rng):
    b = _B(**_ctx(rng))
    b("import os", "", "from flask import Flask", "", "")
    b("def create_app():")
    with b.ind():
        b("app = Flask(__name__)", "app.config.update(", '    SECRET_KEY=os.environ["SECRET_KEY"],')
        which = rng.choice([["SESSION_COOKIE_SECURE"], ["SESSION_COOKIE_HTTPONLY"], ["SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY"],
                            ["REMEMBER_COOKIE_SECURE"], ["SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_HTTPONLY"]])
        for k in ["SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "REMEMBER_COOKIE_SECURE", "REMEMBER_COOKIE_HTTPONLY"]:
            if k in which:
                b.v(f"    {k}=False,", f"    {k}=True,")
            elif rng.random() < 0.5:
                b(f"    {k}=True,")
        b('    SESSION_COOKIE_SAMESITE="Lax",', ")", "return app")
    return b


def _c614_async(rng):
    b = _B(**_ctx(rng))
    kind = rng.choice(["fastapi", "aiohttp"])
    if kind == "fastapi":
        b("from fastapi import FastAPI, HTTPException, Response", "from pydantic import BaseModel", "", "app = FastAPI()", "", "")
        b("class Credentials(BaseModel):", "    username: str", "    password: str", "", "")
        b('@app.post("/' + rng.choice(["auth/login", "login", "session", "api/v$v/login"]) + '")', "async def " + rng.choice(["login", "create_session", "sign_in"]) + "(creds: Credentials, response: Response):")
        with b.ind():
            b("user = await authenticate(creds.username, creds.password)", "if user is None:", '    raise HTTPException(status_code=401, detail="invalid credentials")')
            b("token = await create_session(user.id)")
            vk, fk = _cookie_kw(rng)
            base = ['key="' + rng.choice(["session", "access_token", "sid", "${svc}_session"]) + '"', "value=token", "max_age=" + rng.choice(["3600", "1800", "86400"])]
            b.v("response.set_cookie(" + ", ".join(base + vk) + ")", "response.set_cookie(" + ", ".join(base + fk) + ")")
            b('return {"user_id": user.id}')
    else:
        b("from aiohttp import web", "", "routes = web.RouteTableDef()", "", "")
        b('@routes.post("/' + rng.choice(["login", "auth/login", "session"]) + '")', "async def " + rng.choice(["login", "sign_in", "create_session"]) + "(request):")
        with b.ind():
            b("data = await request.post()", 'user = await authenticate(data.get("username"), data.get("password"))')
            b("if user is None:", '    raise web.HTTPUnauthorized()', "sid = await create_session(user.id)")
            b('resp = web.json_response({"user_id": user.id})')
            vk, fk = _cookie_kw(rng)
            base = ['"' + rng.choice(["sid", "session", "AIOHTTP_SESSION", "auth"]) + '"', "sid", "max_age=" + rng.choice(["3600", "7200", "86400"])]
            b.v("resp.set_cookie(" + ", ".join(base + vk) + ")", "resp.set_cookie(" + ", ".join(base + fk) + ")")
            b("return resp")
    return b


def _h614_flags(rng):
    b = _B(**_ctx(rng))
    b("from flask import Flask, jsonify, make_response", "", "app = Flask(__name__)", "", "")
    cn = rng.choice(["session_id", "sid", "${svc}_session", "auth_token", "refresh_token"])
    if rng.random() < 0.5:
        b('@app.post("/logout")', "def logout():", '    resp = make_response(jsonify({"ok": True}))', f'    resp.delete_cookie("{cn}")', "    return resp", "", "")
    b('@app.post("/' + rng.choice(["refresh", "session/refresh", "login"]) + '")', "def " + rng.choice(["refresh", "renew_session", "login"]) + "():",
      "    token = rotate_session()", '    resp = make_response(jsonify({"ok": True}))')
    kws = ["max_age=" + rng.choice(["3600", "1800", "86400"]), "secure=True", "httponly=True", 'samesite="' + rng.choice(["Lax", "Strict"]) + '"']
    b(f'    resp.set_cookie("{cn}", token, ' + ", ".join(kws[:1] + rng.sample(kws[1:], 3)) + ")", "    return resp")
    return b


def _h614_pref(rng):
    b = _B(**_ctx(rng))
    pref = rng.choice([("theme", '"dark"'), ("locale", "lang"), ("tz", "zone"), ("units", '"metric"')])
    b("from flask import Flask, make_response, redirect, request", "", "app = Flask(__name__)", "", "")
    b(f'@app.post("/preferences/{pref[0]}")', f"def set_{pref[0]}():")
    if pref[1] in ("lang", "zone"):
        b(f'    {pref[1]} = request.form.get("{pref[1]}", "")[:32]')
    b('    resp = make_response(redirect("/settings"))')
    b(f'    resp.set_cookie("{pref[0]}", {pref[1]}, max_age=60 * 60 * 24 * 365, secure=True, samesite="Lax")', "    return resp")
    return b


def _h614_settings(rng):
    b = _B(**_ctx(rng))
    b("import os", "", 'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]', "SESSION_COOKIE_SECURE = True", "SESSION_COOKIE_HTTPONLY = True")
    b('SESSION_COOKIE_SAMESITE = "' + rng.choice(["Lax", "Strict"]) + '"', "CSRF_COOKIE_SECURE = True", "SESSION_COOKIE_AGE = 60 * 60 * $n")
    return b


# ================================================================================ CWE-347 unverified JWT
def _jwt_ctx(b, rng):
    keyname = rng.choice(["JWT_KEY", "SECRET_KEY", "JWT_SECRET", "SIGNING_KEY"])
    b.ctx["k"] = keyname
    return keyname


def _c347_verify_off(rng):
    b = _B(**_ctx(rng))
    k = _jwt_ctx(b, rng)
    alg = rng.choice(["HS256", "HS512", "RS256"])
    kind = rng.choice(["func", "flask", "fastapi"])
    b("import os", "", "import jwt")
    form = rng.randrange(3)
    vcall = {0: 'jwt.decode(token, options={"verify_signature": False})',
             1: f'jwt.decode(token, {k}, algorithms=["{alg}"], options={{"verify_signature": False}})',
             2: f'jwt.decode(token, {k}, algorithms=["{alg}"], options={{"verify_signature": False, "verify_exp": True}})'}[form]
    fcall = rng.choice([f'jwt.decode(token, {k}, algorithms=["{alg}"])', f'jwt.decode(token, {k}, algorithms=["{alg}"], options={{"require": ["exp", "sub"]}})'])
    if kind == "flask":
        b("from flask import abort, g, request")
    elif kind == "fastapi":
        b("from fastapi import Header, HTTPException")
    b("", f'{k} = os.environ["{k}"]', "", "")
    if kind == "func":
        b("def current_user_id(token: str) -> int:")
        b.v(f"    claims = {vcall}", f"    claims = {fcall}")
        b('    return int(claims["sub"])')
    elif kind == "flask":
        b("def load_user_from_header():")
        with b.ind():
            b('auth = request.headers.get("Authorization", "")', 'if not auth.startswith("Bearer "):', "    abort(401)")
            b('token = auth.split(" ", 1)[1]', "try:")
            b.v(f"    g.claims = {vcall}", f"    g.claims = {fcall}")
            b("except jwt.InvalidTokenError:", "    abort(401)")
    else:
        b('async def current_claims(authorization: str = Header(...)) -> dict:')
        with b.ind():
            b('token = authorization.removeprefix("Bearer ")', "try:")
            b.v(f"    return {vcall}", f"    return {fcall}")
            b("except jwt.PyJWTError:", '    raise HTTPException(status_code=401, detail="invalid token")')
    return b


def _c347_alg_none(rng):
    b = _B(**_ctx(rng))
    k = _jwt_ctx(b, rng)
    alg = rng.choice(["HS256", "HS384", "HS512"])
    b("import os", "", "import jwt", "", f'{k} = os.environ["{k}"]', "", "")
    b(rng.choice(["def decode_access_token(token):", "def parse_${svc}_token(token: str) -> dict:"]))
    vl = rng.choice([f'["{alg}", "none"]', '["none"]', f'["none", "{alg}"]'])
    b.v(f"    return jwt.decode(token, {k}, algorithms={vl})", f'    return jwt.decode(token, {k}, algorithms=["{alg}"])')
    return b


def _c347_legacy(rng):
    b = _B(**_ctx(rng))
    k = _jwt_ctx(b, rng)
    kind = rng.choice(["jose_claims", "jose_opts", "pyjwt_verify"])
    b("import os", "")
    if kind.startswith("jose"):
        b("from jose import jwt", "")
        alg = rng.choice(["RS256", "HS256"])
        b(f'{k} = os.environ["{k}"]', 'AUDIENCE = "$svc-api"', "", "")
        b("def user_from_token(token):")
        if kind == "jose_claims":
            b.v("    claims = jwt.get_unverified_claims(token)", f'    claims = jwt.decode(token, {k}, algorithms=["{alg}"], audience=AUDIENCE)')
        else:
            b.v(f'    claims = jwt.decode(token, {k}, algorithms=["{alg}"], audience=AUDIENCE, options={{"verify_signature": False}})',
                f'    claims = jwt.decode(token, {k}, algorithms=["{alg}"], audience=AUDIENCE)')
        b('    return load_user(claims["sub"])')
    else:
        b("import jwt", "", f'{k} = os.environ["{k}"]', "", "")
        b("def tenant_for(token):")
        b.v("    message = jwt.decode(token, verify=False)", f'    message = jwt.decode(token, {k}, algorithms=["HS256"])')
        b('    return message["tenant"]')
    return b


def _c347_manual(rng):
    b = _B(**_ctx(rng))
    k = _jwt_ctx(b, rng)
    b.d(["import base64", "import json"], [])
    b("import os", "", "import jwt" if rng.random() < 0.5 else "")
    if not b.items[-1][1][-1]:
        b.items.pop()
        b("")
        b.d([], "import jwt")
    b("", f'{k} = os.environ["{k}"]', "", "")
    b(rng.choice(["def claims_from_header(auth_header: str) -> dict:", "def read_claims(auth_header):", "def ${svc}_claims(auth_header: str):",
                  "def token_message(auth_header):"]))
    with b.ind():
        b('token = auth_header.removeprefix("Bearer ").strip()')
        alg = rng.choice(["HS256", "HS512", "RS256"])
        b.v(['segment = token.split(".")[1]', 'segment += "=" * (-len(segment) % 4)', "return json.loads(base64.urlsafe_b64decode(segment))"],
            f'return jwt.decode(token, {k}, algorithms=["{alg}"])')
    return b


def _c347_header_alg(rng):
    b = _B(**_ctx(rng))
    k = _jwt_ctx(b, rng)
    b("import os", "", "import jwt", "", f'{k} = os.environ["{k}"]', "", "")
    b("def verify_${svc}_token(token):")
    with b.ind():
        alg = rng.choice(["HS256", "RS256", "ES256"])
        b.v(["header = jwt.get_unverified_header(token)", f'return jwt.decode(token, {k}, algorithms=[header["alg"]])'],
            f'return jwt.decode(token, {k}, algorithms=["{alg}"])')
    return b


def _h347_jwks(rng):
    b = _B(**_ctx(rng))
    b("import jwt", "", 'JWKS = jwt.PyJWKClient("https://$host/.well-known/jwks.json")', 'AUDIENCE = "$svc-api"', "", "")
    b("def verify_token(token: str) -> dict:")
    with b.ind():
        b('kid = jwt.get_unverified_header(token).get("kid")', "signing_key = JWKS.get_signing_key(kid)" if rng.random() < 0.5 else "signing_key = JWKS.get_signing_key_from_jwt(token)")
        b('return jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE)')
    return b


def _h347_issue(rng):
    b = _B(**_ctx(rng))
    b("import os", "from datetime import datetime, timedelta, timezone", "", "import jwt", "", 'SECRET = os.environ["JWT_SECRET"]', "", "")
    b(rng.choice(["def issue(user_id: int) -> str:", "def issue_${svc}_token(user_id: int) -> str:", "def access_token_for(user_id):"]), "    now = datetime.now(timezone.utc)")
    b('    return jwt.encode({"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=$n)}, SECRET, algorithm="HS256")', "", "")
    b(rng.choice(["def verify(token: str) -> dict | None:", "def read_${svc}_token(token):", "def claims_for(token: str):"]), "    try:", '        return jwt.decode(token, SECRET, algorithms=["HS256"])')
    b("    except jwt.ExpiredSignatureError:", "        return None")
    return b


# ================================================================================ benign application code
def _fields(rng, k=3):
    return rng.sample(_FIELDS, k)


def _b_web_crud(rng):
    b = _B(**_ctx(rng))
    w = _W(rng)
    fs = _fields(rng, rng.randint(2, 4))
    op = rng.choice(["get", "list", "create", "update"])
    if w.fw == "django" and op in ("create", "update"):
        b("import json", "")
    w.std_imports(b, "post" if op in ("create", "update") else "get")
    b("", "from .models import $Ent" if w.fw == "django" else "from .db import $Ent, session")
    if w.fw != "django":
        b("")
    w.app_line(b)
    b("", "")
    if op == "get":
        w.route(b, "GET", "/$ents/{${ent}_id}", "get_$ent")
        with b.ind():
            if w.fw == "django":
                b("$ent = $Ent.objects.filter(pk=${ent}_id).first()")
            else:
                b("$ent = session.get($Ent, ${ent}_id)")
            b("if $ent is None:", "    " + w.reply('{"error": "not found"}', 404))
            b(w.reply("{" + ", ".join(f'"{f}": $ent.{f}' for f in ["id", *fs]) + "}"))
    elif op == "list":
        w.route(b, "GET", "/$ents", "list_$ents")
        with b.ind():
            if w.fw == "django":
                b("rows = $Ent.objects.order_by(\"-id\")[:$n]")
            else:
                b("rows = session.query($Ent).order_by($Ent.id.desc()).limit($n).all()")
            b("items = [{" + ", ".join(f'"{f}": r.{f}' for f in ["id", *fs]) + "} for r in rows]")
            b(w.reply('{"items": items, "count": len(items)}'))
    else:
        w.route(b, "POST" if op == "create" else "PUT", "/$ents" if op == "create" else "/$ents/{${ent}_id}",
                "create_$ent" if op == "create" else "update_$ent")
        with b.ind():
            b(f"data = {w.json()}")
            b("missing = [k for k in (" + ", ".join(f'"{f}"' for f in fs) + ",) if k not in data]")
            b("if missing:", "    " + w.reply('{"error": "missing fields", "fields": missing}', 400))
            if op == "create":
                b("$ent = $Ent(" + ", ".join(f'{f}=data["{f}"]' for f in fs) + ")")
                b("$ent.save()" if w.fw == "django" else "session.add($ent)")
            else:
                b("$ent = $Ent.objects.get(pk=${ent}_id)" if w.fw == "django" else "$ent = session.get($Ent, ${ent}_id)")
                for f in fs:
                    b(f'$ent.{f} = data["{f}"]')
                if w.fw == "django":
                    b("$ent.save()")
            if w.fw != "django":
                b("session.commit()")
            b(w.reply('{"id": $ent.id}', 201 if op == "create" else None))
    return b


def _b_django_views(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(3)
    b("from django.contrib.auth.decorators import login_required", "from django.core.paginator import Paginator")
    b("from django.shortcuts import get_object_or_404, redirect, render", "", "from .forms import ${Ent}Form", "from .models import $Ent", "", "")
    if form == 0:
        b("@login_required", "def ${ent}_list(request):")
        b('    qs = $Ent.objects.filter(owner=request.user).order_by("-created_at")')
        b('    page = Paginator(qs, $n).get_page(request.GET.get("page"))', '    return render(request, "$ents/list.html", {"page": page})')
    elif form == 1:
        b("@login_required", "def ${ent}_detail(request, pk):", "    $ent = get_object_or_404($Ent, pk=pk, owner=request.user)")
        b('    return render(request, "$ents/detail.html", {"$ent": $ent})')
    else:
        b("@login_required", "def ${ent}_create(request):", "    form = ${Ent}Form(request.POST or None)")
        b('    if request.method == "POST" and form.is_valid():', "        $ent = form.save(commit=False)", "        $ent.owner = request.user")
        b('        $ent.save()', '        return redirect("$ent-detail", pk=$ent.pk)', '    return render(request, "$ents/form.html", {"form": form})')
    return b


def _b_fastapi(rng):
    b = _B(**_ctx(rng))
    fs = _fields(rng, rng.randint(2, 3))
    b("from fastapi import APIRouter, Depends, HTTPException", "from pydantic import BaseModel", "from sqlalchemy.orm import Session", "")
    b("from .db import get_db", "from .models import $Ent", "", 'router = APIRouter(prefix="/$ents", tags=["$ents"])', "", "")
    b("class ${Ent}Out(BaseModel):", "    id: int", *[f"    {f}: str | None = None" for f in fs], "", "    model_config = {\"from_attributes\": True}", "", "")
    if rng.random() < 0.5:
        b('@router.get("/{${ent}_id}", response_model=${Ent}Out)', "def read_$ent(${ent}_id: int, db: Session = Depends(get_db)):")
        b("    $ent = db.get($Ent, ${ent}_id)", "    if $ent is None:", '        raise HTTPException(status_code=404, detail="$ent not found")', "    return $ent")
    else:
        b('@router.get("", response_model=list[${Ent}Out])', "def list_$ents(limit: int = $n, offset: int = 0, db: Session = Depends(get_db)):")
        b("    limit = min(limit, 100)", "    return db.query($Ent).order_by($Ent.id).offset(offset).limit(limit).all()")
    return b


def _b_api_client(rng):
    b = _B(**_ctx(rng))
    lib = rng.choice(["requests", "httpx"])
    b("import logging", "import os", "", f"import {lib}", "", "log = logging.getLogger(__name__)", "", "")
    b("class ${Svc}Client:")
    with b.ind():
        b('def __init__(self, base_url=None, token=None, timeout=$n):')
        b('    self.base_url = (base_url or os.environ["${SVC}_URL"]).rstrip("/")')
        b('    self.token = token or os.environ["${SVC}_TOKEN"]', "    self.timeout = timeout")
        if lib == "requests":
            b("    self.session = requests.Session()", '    self.session.headers["Authorization"] = f"Bearer {self.token}"')
        else:
            b('    self.client = httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout)')
        b("")
        op = rng.choice(["get", "list", "create"])
        call = "self.session" if lib == "requests" else "self.client"
        to = ", timeout=self.timeout" if lib == "requests" else ""
        if op == "get":
            b("def get_$ent(self, ${ent}_id: int) -> dict:", f'    resp = {call}.get(f"{{self.base_url}}/$ents/{{${{ent}}_id}}"{to})')
            b("    resp.raise_for_status()", "    return resp.json()")
        elif op == "list":
            b("def iter_$ents(self, page_size=50):", "    page = 1", "    while True:")
            b(f'        resp = {call}.get(f"{{self.base_url}}/$ents", params={{"page": page, "page_size": page_size}}{to})')
            b("        resp.raise_for_status()", '        items = resp.json()["items"]', "        if not items:", "            return")
            b("        yield from items", "        page += 1")
        else:
            b("def create_$ent(self, message: dict) -> dict:", f'    resp = {call}.post(f"{{self.base_url}}/$ents", json=message{to})')
            b('    log.info("created $ent, status %s", resp.status_code)', "    resp.raise_for_status()", "    return resp.json()")
    return b


def _b_cli_argparse(rng):
    b = _B(**_ctx(rng))
    b("import argparse", "import json", "import sys", "from pathlib import Path", "", "")
    b("def main(argv=None):")
    with b.ind():
        b('parser = argparse.ArgumentParser(description="Summarise $ents exported from $svc.")')
        b('parser.add_argument("path", type=Path)', f'parser.add_argument("--{rng.choice(["status", "region", "owner"])}", default=None)')
        b('parser.add_argument("--limit", type=int, default=$n)', "args = parser.parse_args(argv)")
        b("if not args.path.exists():", '    print(f"no such file: {args.path}", file=sys.stderr)', "    return 2")
        b("rows = json.loads(args.path.read_text())", 'rows = sorted(rows, key=lambda r: r.get("$field") or "")[: args.limit]')
        b("for row in rows:", '    print(f"{row.get(\'id\')}\\t{row.get(\'$field\')}")', "return 0")
    b("", "", 'if __name__ == "__main__":', "    sys.exit(main())")
    return b


def _b_click(rng):
    b = _B(**_ctx(rng))
    b("import click", "", "from .services import ${ent}_service", "", "", "@click.group()", "def cli():", '    """$Svc maintenance commands."""', "", "")
    form = rng.randrange(2)
    if form == 0:
        b("@cli.command()", '@click.argument("${ent}_id", type=int)', '@click.option("--dry-run", is_flag=True)')
        b("def archive(${ent}_id, dry_run):", "    $ent = ${ent}_service.get(${ent}_id)", "    if dry_run:")
        b('        click.echo(f"would archive {$ent.id}")', "        return", "    ${ent}_service.archive($ent)", '    click.echo("archived")')
    else:
        b("@cli.command(name=\"list\")", '@click.option("--limit", default=$n, show_default=True)')
        b("def list_$ents(limit):", "    for $ent in ${ent}_service.recent(limit=limit):", '        click.echo(f"{$ent.id:>6}  {$ent.$field}")')
    return b


def _b_csv(rng):
    b = _B(**_ctx(rng))
    key = rng.choice(["region", "category", "owner", "status", "country", "currency"])
    val = rng.choice(["amount", "quantity", "total", "duration"])
    b.ctx.update(key=key, val=val)
    form = rng.randrange(2)
    b("import csv", "from collections import defaultdict" if form == 0 else "from collections import Counter", "from pathlib import Path", "", "")
    if form == 0:
        b("def totals_by_$key(path: Path) -> dict[str, float]:", "    totals = defaultdict(float)")
        b('    with path.open(newline="", encoding="utf-8") as fh:', "        for row in csv.DictReader(fh):")
        b('            totals[row["$key"]] += float(row["$val"] or 0)', "    return dict(sorted(totals.items()))")
    else:
        b("def most_common_${key}(path: Path, n: int = $n) -> list[tuple[str, int]]:", '    with path.open(newline="", encoding="utf-8") as fh:')
        b('        counts = Counter(row["$key"] for row in csv.DictReader(fh) if row.get("$key"))', "    return counts.most_common(n)")
    b("", "", "def write_summary(rows, out: Path):")
    b('    with out.open("w", newline="", encoding="utf-8") as fh:', '        writer = csv.writer(fh)', '        writer.writerow(["$key", "$val"])')
    b("        writer.writerows(rows)")
    return b


def _b_sqlalchemy_model(rng):
    b = _B(**_ctx(rng))
    fs = _fields(rng, rng.randint(2, 4))
    b("from datetime import datetime", "", "from sqlalchemy import DateTime, ForeignKey, Integer, String, func")
    b("from sqlalchemy.orm import Mapped, mapped_column, relationship", "", "from .base import Base", "", "")
    b("class $Ent(Base):", '    __tablename__ = "$ents"', "", "    id: Mapped[int] = mapped_column(Integer, primary_key=True)")
    for f in fs:
        b(f"    {f}: Mapped[str] = mapped_column(String({rng.choice([32, 64, 120, 255])}){', nullable=True' if rng.random() < 0.4 else ''})")
    b('    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))', "    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.now())")
    b('    owner = relationship("User", back_populates="$ents")', "", "    def __repr__(self):", f'        return f"<$Ent {{self.id}} {{self.{fs[0]}!r}}>"')
    return b


def _b_django_model(rng):
    b = _B(**_ctx(rng))
    fs = _fields(rng, rng.randint(2, 4))
    b("from django.conf import settings", "from django.db import models", "", "")
    b("class $Ent(models.Model):")
    for f in fs:
        b(f"    {f} = models.CharField(max_length={rng.choice([32, 64, 120, 255])}{', blank=True' if rng.random() < 0.4 else ''})")
    b("    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name=\"$ents\")")
    b("    created_at = models.DateTimeField(auto_now_add=True)", "", "    class Meta:", '        ordering = ["-created_at"]')
    b(f'        indexes = [models.Index(fields=["owner", "{fs[0]}"])]', "", "    def __str__(self):", f"        return self.{fs[0]}")
    return b


def _b_pytest(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(3)
    b("import pytest", "", "from $svc.$ents import " + ("${Ent}Service" if form else "normalize_$field"), "", "")
    if form == 0:
        b("@pytest.mark.parametrize(", '    "raw, expected",', "    [", '        ("  Alpha ", "alpha"),', '        ("BETA", "beta"),', '        ("", ""),', "    ],", ")")
        b("def test_normalize_$field(raw, expected):", "    assert normalize_$field(raw) == expected")
    else:
        b("@pytest.fixture", "def service(db_session):", "    return ${Ent}Service(db_session)", "", "")
        b("def test_create_and_fetch(service):", '    created = service.create($field="first")', "    fetched = service.get(created.id)")
        b('    assert fetched.$field == "first"', "", "", "def test_missing_${ent}_raises(service):", "    with pytest.raises(LookupError):", "        service.get(999_999)")
    return b


def _b_config(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(3)
    if form == 0:
        b("from pathlib import Path", "", "import yaml", "", "")
        b('def load_config(path: Path = Path("config/$svc.yaml")) -> dict:', '    with path.open(encoding="utf-8") as fh:', "        data = yaml.safe_load(fh) or {}")
        b('    data.setdefault("page_size", $n)', '    data.setdefault("regions", ["eu", "us"])', "    return data")
    elif form == 1:
        b("import tomllib", "from pathlib import Path", "", "")
        b("def read_settings(path: Path) -> dict:", '    with path.open("rb") as fh:', "        settings = tomllib.load(fh)")
        b('    return settings.get("tool", {}).get("$svc", {})')
    else:
        b("import os", "from dataclasses import dataclass, field", "", "", "@dataclass(frozen=True)", "class ${Svc}Settings:")
        b('    database_url: str = field(default_factory=lambda: os.environ.get("DATABASE_URL", "sqlite:///$svc.db"))')
        b('    page_size: int = field(default_factory=lambda: int(os.environ.get("PAGE_SIZE", "$n")))')
        b('    log_level: str = field(default_factory=lambda: os.environ.get("LOG_LEVEL", "INFO"))')
    return b


def _b_domain(rng):
    b = _B(**_ctx(rng))
    b("from dataclasses import dataclass", "from decimal import ROUND_HALF_UP, Decimal", "", "")
    b.ctx["Li"] = rng.choice(["LineItem", "${Ent}Line", "CartItem", "${Ent}Item"]).replace("${Ent}", b.ctx["Ent"])
    b("@dataclass", "class $Li:", "    sku: str", "    quantity: int", "    unit_price: Decimal", "", "")
    form = rng.randrange(2)
    rate = rng.choice(["0.2", "0.19", "0.07", "0.21", "0.1"])
    if form == 0:
        b(f'def order_total(items: list[$Li], tax_rate: Decimal = Decimal("{rate}")) -> Decimal:')
        b("    subtotal = sum((i.unit_price * i.quantity for i in items), Decimal(\"0\"))")
        b('    return (subtotal * (1 + tax_rate)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)')
    else:
        b("def apply_discount(items: list[$Li], percent: int) -> list[$Li]:")
        b("    if not 0 <= percent <= 100:", '        raise ValueError("percent must be between 0 and 100")')
        b("    factor = Decimal(100 - percent) / 100", "    return [$Li(i.sku, i.quantity, (i.unit_price * factor).quantize(Decimal(\"0.01\"))) for i in items]")
    return b


def _b_async_worker(rng):
    b = _B(**_ctx(rng))
    b("import asyncio", "import logging", "", "log = logging.getLogger(__name__)", "", "")
    b("async def worker(name: str, queue: asyncio.Queue, handle):")
    with b.ind():
        b("while True:", "    job = await queue.get()", "    try:")
        b("        for attempt in range(3):", "            try:", "                await handle(job)", "                break")
        b("            except ConnectionError:", '                log.warning("%s: retrying job %s (attempt %d)", name, job, attempt + 1)')
        b("                await asyncio.sleep(2**attempt)", "    finally:", "        queue.task_done()")
    b("", "", "async def run_${ent}_sync(jobs, handle, concurrency=$v + 2):")
    b("    queue = asyncio.Queue()", "    for job in jobs:", "        queue.put_nowait(job)")
    b('    tasks = [asyncio.create_task(worker(f"w{i}", queue, handle)) for i in range(concurrency)]', "    await queue.join()")
    b("    for t in tasks:", "        t.cancel()")
    return b


def _b_celery(rng):
    b = _B(**_ctx(rng))
    b("from celery import shared_task", "", "from .models import $Ent", "from .notifications import send_${ent}_update", "", "")
    b(f"@shared_task(bind=True, max_retries=$v, default_retry_delay={rng.choice([30, 60, 120, 300])})",
      f"def {rng.choice(['notify_${ent}_owner', 'send_${ent}_notice', 'push_${ent}_update'])}(self, ${{ent}}_id):")
    with b.ind():
        b("$ent = $Ent.objects.select_related(\"owner\").get(pk=${ent}_id)", "try:", "    send_${ent}_update($ent.owner.email, $ent)")
        b("except ConnectionError as exc:", "    raise self.retry(exc=exc)", "$Ent.objects.filter(pk=${ent}_id).update(notified=True)")
    return b


def _b_middleware(rng):
    b = _B(**_ctx(rng, hdr=rng.choice(["X-Request-Id", "X-Correlation-Id", "X-Trace-Id", "Request-Id"]),
                  mw=rng.choice(["RequestIdMiddleware", "AccessLogMiddleware", "${Svc}TimingMiddleware", "CorrelationMiddleware"])))
    b.ctx["mw"] = b.fmt(b.ctx["mw"])
    form = rng.randrange(2)
    b("import logging", "import time", "import uuid", "", "log = logging.getLogger(__name__)", "", "")
    if form == 0:
        b("class $mw:")
        with b.ind():
            b("def __init__(self, get_response):", "    self.get_response = get_response", "")
            b("def __call__(self, request):", "    request.request_id = uuid.uuid4().hex", "    started = time.monotonic()")
            b("    response = self.get_response(request)", '    response["$hdr"] = request.request_id')
            b('    log.info("%s %s -> %s in %.1f ms", request.method, request.path, response.status_code, (time.monotonic() - started) * 1000)')
            b("    return response")
    else:
        b("from aiohttp import web", "", "", "@web.middleware", "async def ${svc}_timing_middleware(request, handler):")
        b("    started = time.monotonic()", "    response = await handler(request)", '    response.headers["$hdr"] = uuid.uuid4().hex')
        b('    log.info("%s %s took %.1f ms", request.method, request.path, (time.monotonic() - started) * 1000)', "    return response")
    return b


def _b_serializer(rng):
    b = _B(**_ctx(rng))
    fs = _fields(rng, rng.randint(2, 3))
    form = rng.randrange(2)
    if form == 0:
        b("from rest_framework import serializers", "", "from .models import $Ent", "", "")
        b("class ${Ent}Serializer(serializers.ModelSerializer):", "    class Meta:", "        model = $Ent")
        b("        fields = [" + ", ".join(f'"{f}"' for f in ["id", *fs]) + "]", '        read_only_fields = ["id"]', "")
        b(f"    def validate_{fs[0]}(self, value):", "        value = value.strip()", "        if not value:")
        b(f'            raise serializers.ValidationError("{fs[0]} is required")', "        return value")
    else:
        b("from pydantic import BaseModel, Field, field_validator", "", "")
        b("class ${Ent}Create(BaseModel):")
        for f in fs:
            b(f"    {f}: str = Field(min_length=1, max_length={rng.choice([64, 120, 255])})")
        b("", f'    @field_validator("{fs[0]}")', "    @classmethod", f"    def strip_{fs[0]}(cls, value: str) -> str:", "        return value.strip()")
    return b


def _b_utils(rng):
    b = _B(**_ctx(rng))
    form = rng.randrange(6)
    if form == 0:
        name = rng.choice(["slugify", "make_slug", "${ent}_slug", "to_slug"])
        b("import re", "import unicodedata", "", "")
        b(f"def {name}(value: str, max_length: int = {rng.choice([40, 50, 64, 80, 100, 120])}) -> str:")
        b('    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()')
        b('    value = re.sub(r"[^a-zA-Z0-9]+", "' + rng.choice(["-", "_"]) + '", value).strip("-_").lower()', "    return value[:max_length]")
    elif form == 1:
        name = rng.choice(["chunked", "batched", "${ent}_batches", "in_batches"])
        b("from itertools import islice", "", "")
        b(f"def {name}(iterable, size={rng.choice([10, 25, 50, 100, 200, 500])}):", "    it = iter(iterable)")
        b("    while batch := " + rng.choice(["list", "tuple"]) + "(islice(it, size)):", "        yield batch")
    elif form == 2:
        fmts = rng.sample(['"%Y-%m-%d"', '"%d.%m.%Y"', '"%m/%d/%Y"', '"%Y%m%d"', '"%d/%m/%Y"'], rng.randint(2, 4))
        b("from datetime import date, datetime", "", "")
        b(f"def {rng.choice(['parse_day', 'parse_${field}_date', 'to_date'])}(value: str | None) -> date | None:", "    if not value:", "        return None")
        b(f'    for fmt in ({", ".join(fmts)}):', "        try:", "            return datetime.strptime(value.strip(), fmt).date()")
        b("        except ValueError:", "            continue", '    raise ValueError(f"unrecognised date: {value!r}")')
    elif form == 3:
        b("", f"def unique_${{ents}}(items, key={rng.choice(['None', 'lambda item: item.id', 'lambda item: item.$field'])}):")
        b("    seen = set()", "    for item in items:", "        marker = key(item) if key else item", "        if marker in seen:")
        b("            continue", "        seen.add(marker)", "        yield item")
    elif form == 4:
        b(f"def {rng.choice(['percent', 'share_of', '${field}_ratio'])}(part: float, whole: float, digits: int = {rng.randint(0, 3)}) -> float:")
        b("    if not whole:", "        return 0.0", "    return round(100.0 * part / whole, digits)")
    else:
        sep = rng.choice(['"."', '"__"', '"/"'])
        b(f'def flatten(data: dict, prefix: str = "", sep: str = {sep}) -> dict:', "    out = {}", "    for key, value in data.items():")
        b("        name = f\"{prefix}{sep}{key}\" if prefix else str(key)", "        if isinstance(value, dict):", "            out.update(flatten(value, name, sep))")
        b("        else:", "            out[name] = value", "    return out")
    return b


# ================================================================================ neighbouring code
def _neighbour(rng: random.Random) -> str:
    """A small unrelated helper appended to some examples (same for both twins)."""
    b = _B(**_ctx(rng))
    form = rng.randrange(11)
    if form == 0:
        b("class ${Ent}NotFound(LookupError):", "    pass")
    elif form == 1:
        b(rng.choice(["def _as_bool(value, default=False):", "def parse_flag(value, default=False):"]), "    if value is None:", "        return default")
        b('    return str(value).strip().lower() in ("1", "true", "yes", "on")')
    elif form == 2:
        b("def _page_bounds(page, per_page=$n):", "    start = max(page - 1, 0) * per_page", "    return start, start + per_page")
    elif form == 3:
        b("def _clean_$field(value):", '    return " ".join((value or "").split())')
    elif form == 4:
        b(rng.choice(["def _to_cents(amount):", "def as_cents(amount):"]), "    return int(round(float(amount) * 100))")
    elif form == 5:
        b("def ${ent}_cache_key(${ent}_id):", '    return f"$svc:$ent:{${ent}_id}"')
    elif form == 6:
        b("DEFAULT_PAGE_SIZE = $n", "MAX_PAGE_SIZE = " + str(rng.choice([100, 200, 500])))
    elif form == 7:
        b("def _chunks(seq, size=$n):", "    for i in range(0, len(seq), size):", "        yield seq[i:i + size]")
    elif form == 8:
        b("def serialize_$ent($ent):", '    return {"id": $ent.id, "$field": $ent.$field}')
    elif form == 9:
        b("def _retry_delay(attempt, base=" + rng.choice(["0.5", "1.0", "0.25"]) + ", cap=30.0):", "    return min(cap, base * 2 ** attempt)")
    else:
        b("class ${Ent}Status:", '    ACTIVE = "active"', '    ' + rng.choice(['ARCHIVED = "archived"', 'CLOSED = "closed"', 'PENDING = "pending"']))
    return b.render(False)[0]


def _with_neighbour(rng: random.Random, *codes: str) -> list[str]:
    if rng.random() >= NEIGHBOUR_P or any("__main__" in c for c in codes):
        return list(codes)
    extra = _neighbour(rng)
    return [c.rstrip("\n") + "\n\n\n" + extra for c in codes]


# ================================================================================ registry and driver
# label -> (family slug, [(template name, vulnerable/fixed pair template)], [(template name, hard-negative template)])
LABELS: dict[str, tuple[str, list, list]] = {
    "CWE-798": ("cwe798", [("db-connect", _c798_db), ("api-client-key", _c798_api), ("sdk-credentials", _c798_sdk),
                           ("settings-module", _c798_settings), ("signing-key", _c798_signing), ("service-login", _c798_login),
                           ("embedded-private-key", _c798_pem)],
                [("hn-env-settings", _h798_settings), ("hn-getpass-cli", _h798_getpass), ("hn-credential-names", _h798_names),
                 ("hn-secret-manager", _h798_manager)]),
    "CWE-327": ("cwe327", [("pycryptodome-legacy-cipher", _c327_legacy_pycrypto), ("ecb-mode", _c327_ecb),
                           ("small-key", _c327_small_key), ("tls-protocol", _c327_tls),
                           ("cryptography-legacy-cipher", _c327_legacy_cryptography)],
                [("hn-aead", _h327_aead), ("hn-fernet", _h327_fernet), ("hn-modern-tls", _h327_tls), ("hn-strong-keys", _h327_keys)]),
    "CWE-328": ("cwe328", [("password-hash", _c328_password), ("token-digest", _c328_token), ("signature", _c328_signature),
                           ("django-hashers", _c328_django_hashers), ("login-verify", _c328_verify)],
                [("hn-cache-key", _h328_cache_key), ("hn-checksum", _h328_checksum), ("hn-password-kdf", _h328_password_ok)]),
    "CWE-338": ("cwe338", [("reset-token", _c338_token), ("otp-code", _c338_otp), ("session-id", _c338_session),
                           ("temp-password", _c338_password), ("key-material", _c338_keymaterial)],
                [("hn-shuffle", _h338_shuffle), ("hn-simulation", _h338_simulation), ("hn-retry-jitter", _h338_jitter),
                 ("hn-system-random", _h338_sysrandom)]),
    "CWE-295": ("cwe295", [("http-client-verify", _c295_requests), ("ssl-context", _c295_ssl_context),
                           ("unverified-context", _c295_unverified), ("ssh-host-key", _c295_paramiko),
                           ("aiohttp-urllib3", _c295_async_urllib3)],
                [("hn-ca-bundle", _h295_requests), ("hn-server-context", _h295_server_ctx), ("hn-known-hosts", _h295_paramiko),
                 ("hn-httpx-context", _h295_httpx)]),
    "CWE-319": ("cwe319", [("http-credentials", _c319_http), ("ftp", _c319_ftp), ("telnet", _c319_telnet),
                           ("smtp-no-tls", _c319_smtp), ("plain-scheme", _c319_scheme)],
                [("hn-local-http", _h319_local_http), ("hn-xml-namespace", _h319_xml_ns), ("hn-https-redirect", _h319_https_redirect),
                 ("hn-tls-clients", _h319_tls_clients)]),
    "CWE-377": ("cwe377", [("mktemp", _c377_mktemp), ("fixed-tmp-path", _c377_fixed_path), ("predictable-name", _c377_predictable),
                           ("mktemp-dir", _c377_mktemp_dir), ("tmp-script", _c377_script)],
                [("hn-tempfile-api", _h377_named), ("hn-pytest-tmp-path", _h377_pytest)]),
    "CWE-732": ("cwe732", [("chmod", _c732_chmod), ("umask", _c732_umask), ("mkdir-mode", _c732_makedirs),
                           ("os-open-mode", _c732_osopen), ("pathlib-chmod", _c732_pathlib)],
                [("hn-private-modes", _h732_private), ("hn-permission-audit", _h732_audit)]),
    "CWE-352": ("cwe352", [("django-csrf-exempt", _c352_django_exempt), ("django-cbv-exempt", _c352_django_cbv),
                           ("flask-wtf-config", _c352_flask_config), ("flask-wtf-exempt", _c352_flask_exempt),
                           ("django-middleware", _c352_middleware), ("drf-session-auth", _c352_drf)],
                [("hn-signed-webhook", _h352_webhook), ("hn-csrf-kept", _h352_protected), ("hn-token-api", _h352_token_api)]),
    "CWE-434": ("cwe434", [("flask-save", _c434_flask), ("django-files", _c434_django), ("fastapi-uploadfile", _c434_fastapi),
                           ("aiohttp-multipart", _c434_aiohttp), ("mimetype-only", _c434_mimetype)],
                [("hn-validated-upload", _h434_validated), ("hn-in-memory-import", _h434_inmemory), ("hn-reencoded-image", _h434_pillow)]),
    "CWE-215": ("cwe215", [("flask-run", _c215_flask_run), ("django-settings", _c215_django), ("flask-config", _c215_flask_config),
                           ("asgi-app", _c215_asgi), ("wsgi-debugger", _c215_werkzeug)],
                [("hn-debug-from-env", _h215_env), ("hn-test-config", _h215_test_config)]),
    "CWE-209": ("cwe209", [("handler-exception-text", _c209_handler), ("traceback-response", _c209_traceback),
                           ("global-error-handler", _c209_error_handler), ("db-error-detail", _c209_db_error),
                           ("http-exception-detail", _c209_http_exception)],
                [("hn-logged-generic", _h209_logged), ("hn-validation-errors", _h209_validation), ("hn-cli-traceback", _h209_cli),
                 ("hn-abort-message", _h209_abort)]),
    "CWE-614": ("cwe614", [("flask-set-cookie", _c614_flask), ("django-set-cookie", _c614_django),
                           ("django-settings", _c614_django_settings), ("flask-config", _c614_flask_config),
                           ("asgi-set-cookie", _c614_async)],
                [("hn-cookie-flags", _h614_flags), ("hn-preference-cookie", _h614_pref), ("hn-cookie-settings", _h614_settings)]),
    "CWE-347": ("cwe347", [("verify-signature-off", _c347_verify_off), ("alg-none", _c347_alg_none),
                           ("legacy-api", _c347_legacy), ("manual-b64", _c347_manual), ("header-alg", _c347_header_alg)],
                [("hn-jwks", _h347_jwks), ("hn-issue-verify", _h347_issue)]),
}

BENIGN = [("web-crud", _b_web_crud), ("django-views", _b_django_views), ("fastapi-router", _b_fastapi),
          ("api-client", _b_api_client), ("cli-argparse", _b_cli_argparse), ("cli-click", _b_click), ("csv-aggregate", _b_csv),
          ("sqlalchemy-model", _b_sqlalchemy_model), ("django-model", _b_django_model), ("pytest-tests", _b_pytest),
          ("config-loading", _b_config), ("domain-logic", _b_domain), ("async-worker", _b_async_worker),
          ("celery-task", _b_celery), ("middleware", _b_middleware), ("serializers", _b_serializer), ("utilities", _b_utils)]

N_PAIRS = 200
N_HARD_NEG = 80
N_BENIGN = 1530
RESTYLE_P = 0.25
NEIGHBOUR_P = 0.35


def _quota(total: int, n: int) -> list[int]:
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def _fill(rng, templates, total, make, seen, tries_per=25):
    """Round-robin over templates until `total` unique items, redistributing what a template cannot give."""
    out: list = []
    counts = [0] * len(templates)
    quota = _quota(total, len(templates))
    for _ in range(3):
        for i, (name, fn) in enumerate(templates):
            tries = misses = 0
            while counts[i] < quota[i] and tries < quota[i] * tries_per and misses < 60:
                tries += 1
                item = make(name, fn)
                if item is None:
                    misses += 1
                    continue
                misses = 0
                out.append(item)
                counts[i] += 1
        short = total - len(out)
        if short <= 0:
            break
        open_ = [i for i in range(len(templates)) if counts[i] >= quota[i]]
        for j, extra in zip(open_, _quota(short, len(open_)) if open_ else []):
            quota[j] += extra
    return out



def _negative(rng, fn, family, seen):
    """One safe record (hard negative or benign application code) from a template, or None if seen."""
    code, _ = fn(rng).render(False)
    (code,) = _with_neighbour(rng, code)
    if rng.random() < RESTYLE_P:
        code = _restyle_quotes(code)
    if code in seen:
        return None
    seen.add(code)
    return [dict(code=code, cwe=None, vuln_lines=[], family=family, pair=None, kind="hard-negative")]


def generate(rng: random.Random) -> list[dict]:
    seen: set[str] = set()
    records: list[dict] = []
    for cwe, (slug, pair_templates, hn_templates) in LABELS.items():
        counter = [0]

        def make_pair(name, fn, slug=slug, cwe=cwe, counter=counter):
            b = fn(rng)
            vcode, vlines = b.render(True)
            fcode, _ = b.render(False)
            vcode, fcode = _with_neighbour(rng, vcode, fcode)
            if rng.random() < RESTYLE_P:
                vcode, fcode = _restyle_quotes(vcode), _restyle_quotes(fcode)
            if not vlines or vcode == fcode or vcode in seen or fcode in seen:
                return None
            seen.update((vcode, fcode))
            counter[0] += 1
            pair = f"{slug}-{counter[0]:04d}"
            fam = f"{slug}/{name}"
            return [dict(code=vcode, cwe=cwe, vuln_lines=vlines, family=fam, pair=pair, kind="vuln"),
                    dict(code=fcode, cwe=None, vuln_lines=[], family=fam, pair=pair, kind="fix")]

        def make_hn(name, fn, slug=slug):
            return _negative(rng, fn, f"{slug}/{name}", seen)

        for group in _fill(rng, pair_templates, N_PAIRS, make_pair, seen):
            records.extend(group)
        for group in _fill(rng, hn_templates, N_HARD_NEG, make_hn, seen):
            records.extend(group)

    def make_benign(name, fn):
        return _negative(rng, fn, f"benign/{name}", seen)

    for group in _fill(rng, BENIGN, N_BENIGN, make_benign, seen):
        records.extend(group)
    return records
