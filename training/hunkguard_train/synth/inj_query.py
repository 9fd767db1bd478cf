"""Synthetic CWE-89 (SQL), CWE-90 (LDAP), CWE-643 (XPath) and CWE-943 (NoSQL) injection examples."""
from __future__ import annotations

import random

from .common import ANY, E, generate_from_tables

_TABLES = [("users", "username"), ("accounts", "email"), ("orders", "reference"), ("products", "sku"),
           ("customers", "name"), ("tickets", "title"), ("invoices", "number"), ("members", "login")]


def _uses(ctx, name):
    """True when a setup or module line of the example refers to `name`."""
    lines = list(ctx.setup) + [m[0] if isinstance(m, tuple) else m for m in ctx.module]
    return any(name in x for x in lines)


def _const(ctx, name, value):
    """A module-level constant placed before the module lines that use it."""
    ctx.const(name, value)
    ent = (f"{name} = {value}", False)
    if ent in ctx.module:
        ctx.module.remove(ent)
        ctx.module.insert(0, ent)
    return name


# ---------------------------------------------------------------------------------------------- CWE-89
def _cursor(ctx):
    """A DB-API cursor handle and its placeholder."""
    db = ctx.pick(["sqlite", "pg", "mysql"])
    if db == "sqlite":
        n = ctx.handle(["cursor", "cur", "db"], local=[["{c} = sqlite3.connect(DB_PATH)", "{n} = {c}.cursor()"]],
                       module=[["{c} = sqlite3.connect(DB_PATH, check_same_thread=False)", "{n} = {c}.cursor()"]],
                       hint="sqlite3.Cursor", imports=[("sqlite3",)])
        if _uses(ctx, "DB_PATH"):
            _const(ctx, "DB_PATH", ctx.lit(ctx.pick(["app.db", "/var/lib/app/data.sqlite3", "data.db"])))
        return n, "?"
    mod = "psycopg2" if db == "pg" else "pymysql"
    n = ctx.handle(["cursor", "cur", "db"], local=[[f"{{c}} = {mod}.connect(DSN)" if db == "pg" else
                                                    "{c} = pymysql.connect(**DB_CONFIG)", "{n} = {c}.cursor()"]],
                   module=[[f"{{c}} = {mod}.connect(DSN)" if db == "pg" else "{c} = pymysql.connect(**DB_CONFIG)",
                            "{n} = {c}.cursor()"]], hint="", imports=[(mod,)])
    if _uses(ctx, "DSN") or _uses(ctx, "DB_CONFIG"):
        if db == "pg":
            _const(ctx, "DSN", ctx.lit(ctx.pick(["dbname=app", "postgresql://app@db/app", "host=db dbname=shop"])))
        else:
            _const(ctx, "DB_CONFIG", "{" + f"{ctx.lit('host')}: {ctx.lit('db')}, {ctx.lit('database')}: {ctx.lit('app')}" + "}")
    return n, "%s"


def q89_where(ctx):
    ctx.use(ANY, "user", "read")
    table, col = ctx.pick(_TABLES)
    cur, ph = _cursor(ctx)
    v = ctx.taint(ctx.pick(["name", "email", "id"]))
    sv = ctx.ident("sqlvar")
    rows = ctx.ident("result")
    cols = ctx.pick(["*", "id, " + col, "id, " + col + ", created_at"])
    quote = ctx.pick(["'", "'", ""])
    sep = ctx.chance(0.5)
    fetch = ctx.pick(["fetchall", "fetchone"])
    s = ctx.snip()
    s.maybe_guard(v)
    s.noise()
    head = f"SELECT {cols} FROM {table} WHERE {col} = "
    with s.maybe_try():
        if ctx.mark:
            q = ctx.fmt([head + quote, E(v), quote])
            if sep:
                s.add(f"{sv} = {q}", True)
                s.add(f"{cur}.execute({sv})", True)
            else:
                s.add(f"{cur}.execute({q})", True)
        else:
            q = ctx.lit(head + ph)
            if sep:
                s.add(f"{sv} = {q}")
                s.add(f"{cur}.execute({sv}, ({v},))")
            else:
                s.add(f"{cur}.execute({q}, ({v},))")
        s.add(f"{rows} = {cur}.{fetch}()")
    s.ret("data", rows)
    return s


def q89_like(ctx):
    ctx.use(ANY, "search", "read")
    table, col = ctx.pick(_TABLES)
    cur, ph = _cursor(ctx)
    v = ctx.taint("query")
    rows = ctx.ident("result")
    lim = ctx.pick(["", " LIMIT 50", " LIMIT 20"])
    s = ctx.snip()
    s.maybe_guard(v)
    if ctx.mark:
        q = ctx.fmt([f"SELECT id, {col} FROM {table} WHERE {col} LIKE '%", E(v), f"%'{lim}"])
        s.call(None, f"{cur}.execute", [q], True)
    else:
        s.call(None, f"{cur}.execute", [ctx.lit(f"SELECT id, {col} FROM {table} WHERE {col} LIKE {ph}{lim}"),
                                       f"({ctx.fmt(['%', E(v), '%'], 'f')},)"])
    s.add(f"{rows} = {cur}.fetchall()")
    s.ret("data", rows)
    return s


def q89_orderby(ctx):
    ctx.use(ANY, "item", "read")
    table, col = ctx.pick(_TABLES)
    cur, ph = _cursor(ctx)
    v = ctx.taint("sort")
    rows = ctx.ident("result")
    cols = ctx.const(ctx.pick(["SORTABLE", "SORT_COLUMNS", "ORDER_FIELDS"]),
                     "{" + ", ".join(ctx.lit(c) for c in ["id", col, "created_at"]) + "}")
    how = ctx.pick(["default", "reject"])
    s = ctx.snip()
    if not ctx.mark:
        if how == "default":
            with s.block(f"if {v} not in {cols}:"):
                s.add(f"{v} = {ctx.lit('id')}")
        else:
            s.guard(f"{v} not in {cols}")
    s.add(f"{cur}.execute({ctx.fmt([f'SELECT id, {col} FROM {table} ORDER BY ', E(v)])})", ctx.mark)
    s.add(f"{rows} = {cur}.fetchall()")
    s.ret("data", rows)
    return s


def q89_sqlalchemy(ctx):
    ctx.use(ANY, "user", "read")
    ctx.imp("sqlalchemy", "text")
    table, col = ctx.pick(_TABLES)
    db = ctx.handle(["session", "db", "engine_conn"], local=[["{n} = Session()"]],
                    module=[["{n} = scoped_session(sessionmaker(bind=create_engine(DATABASE_URL)))"]],
                    hint="Session", imports=[("sqlalchemy.orm", "Session")])
    if _uses(ctx, "scoped_session"):
        ctx.imp("sqlalchemy.orm", "scoped_session")
        ctx.imp("sqlalchemy.orm", "sessionmaker")
        ctx.imp("sqlalchemy", "create_engine")
        _const(ctx, "DATABASE_URL", ctx.lit(ctx.pick(["postgresql://app@db/app", "sqlite:///app.db"])))
    v = ctx.taint(ctx.pick(["name", "email", "id"]))
    rows = ctx.ident("result")
    s = ctx.snip()
    s.maybe_guard(v)
    head = f"SELECT id, {col} FROM {table} WHERE {col} = "
    if ctx.mark:
        s.add(f"{rows} = {db}.execute(text({ctx.fmt([head + chr(39), E(v), chr(39)])})).fetchall()", True)
    else:
        s.add(f"{rows} = {db}.execute(text({ctx.lit(head + ':v')}), {{{ctx.lit('v')}: {v}}}).fetchall()")
    s.ret("data", f"[dict(r._mapping) for r in {rows}]")
    return s


def q89_django(ctx):
    ctx.use(("django", "django", "lib", "method", "worker"), "user", "read")
    model = ctx.pick(["User", "Order", "Product", "Customer", "Ticket", "Article"])
    ctx.imp(ctx.pick(["app.models", "shop.models", "core.models"]), model)
    table, col = ctx.pick(_TABLES)
    v = ctx.taint(ctx.pick(["name", "id", "query"]))
    rows = ctx.ident("result")
    api = ctx.pick(["raw", "raw", "cursor"])
    s = ctx.snip()
    s.maybe_guard(v)
    if api == "raw":
        if ctx.mark:
            s.add(f"{rows} = list({model}.objects.raw({ctx.fmt([f'SELECT * FROM {table} WHERE {col} = {chr(39)}', E(v), chr(39)])}))", True)
        else:
            s.add(f"{rows} = list({model}.objects.raw({ctx.lit(f'SELECT * FROM {table} WHERE {col} = %s')}, [{v}]))")
        s.ret("data", f"[r.pk for r in {rows}]")
        return s
    ctx.imp("django.db", "connection")
    cur = ctx.pick(["cursor", "cur"])
    ctx.reserve(cur)
    with s.block(f"with connection.cursor() as {cur}:"):
        if ctx.mark:
            s.add(f"{cur}.execute({ctx.fmt([f'UPDATE {table} SET last_seen = NOW() WHERE {col} = {chr(39)}', E(v), chr(39)])})", True)
        else:
            s.add(f"{cur}.execute({ctx.lit(f'UPDATE {table} SET last_seen = NOW() WHERE {col} = %s')}, [{v}])")
    s.ret("data", f"{cur}.rowcount")
    return s


def n89_params(ctx):
    ctx.use(ANY, "item", "read")
    table, col = ctx.pick(_TABLES)
    cur, ph = _cursor(ctx)
    v = ctx.taint(ctx.pick(["id", "name"]))
    rows = ctx.ident("result")
    tconst = ctx.const(ctx.pick(["TABLE", "TABLE_NAME"]), ctx.lit(table))
    s = ctx.snip()
    form = ctx.pick(["const-table", "plain", "many"])
    if form == "const-table":
        s.add(f"{cur}.execute({ctx.fmt(['SELECT * FROM ', E(tconst), f' WHERE {col} = {ph}'], 'f')}, ({v},))")
    elif form == "plain":
        s.add(f"{cur}.execute({ctx.lit(f'SELECT * FROM {table} WHERE {col} = {ph} AND active = 1')}, ({v},))")
    else:
        s.add(f"{cur}.executemany({ctx.lit(f'INSERT INTO {table} ({col}) VALUES ({ph})')}, [({v},)])")
    s.add(f"{rows} = {cur}.fetchall()")
    s.ret("data", rows)
    return s


def n89_const(ctx):
    ctx.use(ANY, "item", "read")
    table, col = ctx.pick(_TABLES)
    cur, ph = _cursor(ctx)
    lim = ctx.taint("id")
    rows = ctx.ident("result")
    s = ctx.snip()
    s.add(f"{cur}.execute({ctx.fmt([f'SELECT id, {col} FROM {table} ORDER BY id LIMIT ', E(f'int({lim})')])})")
    s.add(f"{rows} = {cur}.fetchall()")
    s.ret("data", rows)
    return s


# ---------------------------------------------------------------------------------------------- CWE-90
_BASEDN = ["ou=people,dc=example,dc=com", "ou=users,dc=corp,dc=example,dc=org", "dc=example,dc=net",
           "ou=staff,o=acme"]


def _ldap_conn(ctx, lib):
    if lib == "ldap":
        return ctx.handle(["conn", "ldap_conn", "directory", "ld"], local=[["{n} = ldap.initialize(LDAP_URI)"]],
                          module=[["{n} = ldap.initialize(LDAP_URI)"]], imports=[("ldap",)])
    return ctx.handle(["conn", "ldap_conn", "directory"],
                      local=[["{n} = Connection(Server(LDAP_URI), auto_bind=True)"]],
                      module=[["{n} = Connection(Server(LDAP_URI), user=BIND_DN, password=os.environ[\"LDAP_PW\"], auto_bind=True)"]],
                      imports=[("ldap3", "Connection"), ("ldap3", "Server")])


def _ldap_consts(ctx):
    if _uses(ctx, "LDAP_URI"):
        _const(ctx, "LDAP_URI", ctx.lit(ctx.pick(["ldap://ldap.example.com", "ldaps://dc1.corp.example.org"])))
        if _uses(ctx, "BIND_DN"):
            ctx.imp("os")
            _const(ctx, "BIND_DN", ctx.lit("cn=reader," + ctx.pick(_BASEDN)))
    return ctx.const(ctx.pick(["BASE_DN", "SEARCH_BASE", "PEOPLE_DN"]), ctx.lit(ctx.pick(_BASEDN)))


def ldap90_search(ctx):
    ctx.use(ANY, "dir", "read")
    lib = ctx.pick(["ldap", "ldap3"])
    conn = _ldap_conn(ctx, lib)
    base = _ldap_consts(ctx)
    v = ctx.taint(ctx.pick(["name", "email"]))
    attr = ctx.pick(["uid", "mail", "cn", "sAMAccountName"])
    fv = ctx.pick(["flt", "search_filter", "ldap_filter", "query_filter"])
    ctx.reserve(fv)
    wrap = ctx.pick(["plain", "and"])
    res = ctx.ident("result")
    s = ctx.snip()
    s.maybe_guard(v)
    if ctx.mark:
        val = E(v)
    elif lib == "ldap":
        ctx.imp("ldap.filter", "escape_filter_chars")
        val = E(f"escape_filter_chars({v})")
    else:
        ctx.imp("ldap3.utils.conv", "escape_filter_chars")
        val = E(f"escape_filter_chars({v})")
    parts = [f"({attr}=", val, ")"] if wrap == "plain" else [f"(&(objectClass=person)({attr}=", val, "))"]
    s.add(f"{fv} = {ctx.fmt(parts)}", ctx.mark)
    if lib == "ldap":
        s.add(f"{res} = {conn}.search_s({base}, ldap.SCOPE_SUBTREE, {fv}, [{ctx.lit('cn')}, {ctx.lit('mail')}])", ctx.mark)
    else:
        s.add(f"{conn}.search({base}, {fv}, attributes=[{ctx.lit('cn')}, {ctx.lit('mail')}])", ctx.mark)
        s.add(f"{res} = [e.entry_to_json() for e in {conn}.entries]")
    s.ret("data", res)
    return s


def ldap90_multi(ctx):
    ctx.use(ANY, "dir", "read")
    lib = ctx.pick(["ldap", "ldap3"])
    conn = _ldap_conn(ctx, lib)
    base = _ldap_consts(ctx)
    v = ctx.taint("query")
    res = ctx.ident("result")
    s = ctx.snip()
    s.maybe_guard(v)
    if not ctx.mark:
        ctx.imp("ldap.filter" if lib == "ldap" else "ldap3.utils.conv", "escape_filter_chars")
        s.add(f"{v} = escape_filter_chars({v})")
    q = ctx.fmt(["(|(cn=*", E(v), "*)(mail=*", E(v), "*)(displayName=*", E(v), "*))"])
    if lib == "ldap":
        s.add(f"{res} = {conn}.search_s({base}, ldap.SCOPE_SUBTREE, {q})", ctx.mark)
    else:
        s.add(f"{conn}.search({base}, {q}, attributes=[{ctx.lit('cn')}])", ctx.mark)
        s.add(f"{res} = [str(e.cn) for e in {conn}.entries]")
    s.ret("data", f"len({res})")
    return s


def ldap90_bind(ctx):
    ctx.use(ANY, "auth", "handle")
    user = ctx.taint("name")
    pw = ctx.taint("password")
    dnbase = ctx.pick(_BASEDN)
    dv = ctx.pick(["dn", "user_dn", "bind_dn"])
    ctx.reserve(dv)
    lib = ctx.pick(["ldap", "ldap3"])
    s = ctx.snip()
    s.maybe_guard(user)
    if ctx.mark:
        val = E(user)
    else:
        ctx.imp("ldap.dn" if lib == "ldap" else "ldap3.utils.dn", "escape_dn_chars" if lib == "ldap" else "escape_rdn")
        val = E(f"escape_dn_chars({user})" if lib == "ldap" else f"escape_rdn({user})")
    s.add(f"{dv} = {ctx.fmt(['uid=', val, ',' + dnbase])}", ctx.mark)
    if lib == "ldap":
        ctx.imp("ldap")
        lc = ctx.pick(["ld", "conn", "directory"])
        ctx.reserve(lc)
        s.add(f"{lc} = ldap.initialize({ctx.lit('ldap://ldap.example.com')})")
        s.add(f"{lc}.simple_bind_s({dv}, {pw})", ctx.mark)
    else:
        ctx.imp("ldap3", "Connection")
        ctx.imp("ldap3", "Server")
        lc = ctx.pick(["conn", "directory"])
        ctx.reserve(lc)
        s.add(f"{lc} = Connection(Server({ctx.lit('ldap://ldap.example.com')}), user={dv}, password={pw})", ctx.mark)
        s.add(f"{lc}.bind()")
    s.ret("none")
    return s


def ldap90_group(ctx):
    ctx.use(ANY, "dir", "read")
    lib = "ldap3"
    conn = _ldap_conn(ctx, lib)
    base = _ldap_consts(ctx)
    user = ctx.taint("name")
    grp = ctx.taint(ctx.pick(["header", "arg"]))
    s = ctx.snip()
    if not ctx.mark:
        ctx.imp("ldap3.utils.conv", "escape_filter_chars")
        s.add(f"{user}, {grp} = escape_filter_chars({user}), escape_filter_chars({grp})")
    q = ctx.fmt(["(&(uid=", E(user), ")(memberOf=cn=", E(grp), ",ou=groups,dc=example,dc=com))"])
    s.add(f"{ctx.pick(['found', 'ok', 'matched'])} = {conn}.search({base}, {q})", ctx.mark)
    s.ret("data", f"bool({conn}.entries)")
    return s


def n90_const(ctx):
    ctx.use(ANY, "dir", "read")
    lib = ctx.pick(["ldap", "ldap3"])
    conn = _ldap_conn(ctx, lib)
    base = _ldap_consts(ctx)
    v = ctx.taint("name")
    res = ctx.ident("result")
    s = ctx.snip()
    flt = ctx.lit(ctx.pick(["(objectClass=groupOfNames)", "(&(objectClass=person)(!(accountDisabled=TRUE)))",
                            "(objectClass=organizationalUnit)"]))
    if lib == "ldap":
        s.add(f"{res} = {conn}.search_s({base}, ldap.SCOPE_SUBTREE, {flt})")
    else:
        s.add(f"{conn}.search({base}, {flt})")
        s.add(f"{res} = {conn}.entries")
    s.ret("data", f"[str(e) for e in {res} if {v} in str(e)]")
    return s


def n90_escaped(ctx):
    ctx.use(ANY, "dir", "read")
    conn = _ldap_conn(ctx, "ldap3")
    base = _ldap_consts(ctx)
    ctx.imp("ldap3.utils.conv", "escape_filter_chars")
    v = ctx.taint(ctx.pick(["name", "email"]))
    s = ctx.snip()
    s.add(f"{conn}.search({base}, {ctx.fmt(['(mail=', E(f'escape_filter_chars({v})'), ')'])})")
    s.ret("data", f"len({conn}.entries)")
    return s


# ---------------------------------------------------------------------------------------------- CWE-643
def _tree(ctx):
    ctx.imp("lxml", "etree")
    return ctx.handle(["tree", "doc", "users_xml", "catalog"],
                      local=[["{n} = etree.parse(DATA_XML)"]], module=[["{n} = etree.parse(DATA_XML)"]])


def _xml_const(ctx):
    if _uses(ctx, "DATA_XML"):
        _const(ctx, "DATA_XML", ctx.lit(ctx.pick(["data/users.xml", "/srv/app/catalog.xml", "accounts.xml"])))


def xp_lookup(ctx):
    ctx.use(ANY, "user", "read")
    tree = _tree(ctx)
    _xml_const(ctx)
    v = ctx.taint(ctx.pick(["name", "id"]))
    el, attr = ctx.pick([("user", "name"), ("item", "id"), ("book", "isbn"), ("account", "login"), ("product", "sku")])
    res = ctx.ident("result")
    sep = ctx.chance(0.4)
    ev = ctx.pick(["xp", "expr_text", "path_expr"])
    ctx.reserve(ev)
    s = ctx.snip()
    s.maybe_guard(v)
    if ctx.mark:
        q = ctx.fmt([f"//{el}[@{attr}='", E(v), "']"])
        if sep:
            s.add(f"{ev} = {q}", True)
            s.add(f"{res} = {tree}.xpath({ev})", True)
        else:
            s.add(f"{res} = {tree}.xpath({q})", True)
    else:
        q = ctx.lit(f"//{el}[@{attr}=$v]")
        if sep:
            s.add(f"{ev} = {q}")
            s.add(f"{res} = {tree}.xpath({ev}, v={v})")
        else:
            s.add(f"{res} = {tree}.xpath({q}, v={v})")
    s.ret("data", f"[e.get({ctx.lit(attr)}) for e in {res}]")
    return s


def xp_login(ctx):
    ctx.use(ANY, "auth", "handle")
    tree = _tree(ctx)
    _xml_const(ctx)
    u = ctx.taint("name")
    p = ctx.taint("password")
    res = ctx.ident("result")
    s = ctx.snip()
    s.maybe_guard(u)
    if ctx.mark:
        q = ctx.fmt(["//user[name/text()='", E(u), "' and password/text()='", E(p), "']"])
        s.add(f"{res} = {tree}.xpath({q})", True)
    else:
        s.add(f"{res} = {tree}.xpath({ctx.lit('//user[name/text()=$u and password/text()=$p]')}, u={u}, p={p})")
    s.guard(f"not {res}", 403)
    s.ret("data", "True")
    return s


def xp_compiled(ctx):
    ctx.use(ANY, "item", "read")
    tree = _tree(ctx)
    _xml_const(ctx)
    v = ctx.taint(ctx.pick(["query", "id"]))
    fv = ctx.pick(["finder", "selector", "xpath_fn"])
    ctx.reserve(fv)
    res = ctx.ident("result")
    el = ctx.pick(["item", "product", "entry", "record"])
    s = ctx.snip()
    s.maybe_guard(v)
    if ctx.mark:
        s.add(f"{fv} = etree.XPath({ctx.fmt([f'//{el}[contains(title, {chr(34)}', E(v), f'{chr(34)})]'])})", True)
        s.add(f"{res} = {fv}({tree})", True)
    else:
        s.add(f"{fv} = etree.XPath({ctx.lit(f'//{el}[contains(title, $term)]')})")
        s.add(f"{res} = {fv}({tree}, term={v})")
    s.ret("data", f"len({res})")
    return s


def xp_etree(ctx):
    ctx.use(ANY, "item", "read")
    ctx.imp("xml.etree.ElementTree", "parse")
    root = ctx.handle(["root", "doc_root", "catalog"], local=[["{n} = parse(DATA_XML).getroot()"]],
                      module=[["{n} = parse(DATA_XML).getroot()"]])
    _xml_const(ctx)
    v = ctx.taint("id")
    el = ctx.pick(["item", "product", "user", "device"])
    res = ctx.ident("result")
    it = ctx.pick(["e", "node", "el"])
    ctx.reserve(it)
    s = ctx.snip()
    s.maybe_guard(v)
    if ctx.mark:
        s.add(f"{res} = {root}.findall({ctx.fmt([f'.//{el}[@id=' + chr(39), E(v), chr(39) + ']'])})", True)
    else:
        s.add(f"{res} = [{it} for {it} in {root}.iter({ctx.lit(el)}) if {it}.get({ctx.lit('id')}) == {v}]")
    s.ret("data", f"[{it}.attrib for {it} in {res}]")
    return s


def n643_xpath(ctx):
    ctx.use(ANY, "item", "read")
    tree = _tree(ctx)
    _xml_const(ctx)
    v = ctx.taint("name")
    res = ctx.ident("result")
    s = ctx.snip()
    if ctx.chance(0.5):
        s.add(f"{res} = {tree}.xpath({ctx.lit('//item[@status=' + chr(34) + 'active' + chr(34) + ']')})")
        s.ret("data", f"[e.get({ctx.lit('id')}) for e in {res} if e.get({ctx.lit('owner')}) == {v}]")
    else:
        s.add(f"{res} = {tree}.xpath({ctx.lit('//item[owner=$o]')}, o={v})")
        s.ret("data", f"len({res})")
    return s


# ---------------------------------------------------------------------------------------------- CWE-943
def _coll(ctx):
    return ctx.handle(["users", "collection", "coll", "accounts", "docs"],
                      local=[["{n} = MongoClient(MONGO_URI)[" + ctx.lit("app") + "][" + ctx.lit(ctx.pick(["users", "orders", "items"])) + "]"]],
                      module=[["{n} = MongoClient(MONGO_URI).app." + ctx.pick(["users", "orders", "products"])]],
                      hint="Collection", imports=[("pymongo", "MongoClient")])


def _mongo_const(ctx):
    if _uses(ctx, "MONGO_URI"):
        _const(ctx, "MONGO_URI", ctx.lit(ctx.pick(["mongodb://localhost:27017", "mongodb://mongo:27017/app"])))


def ns_filter(ctx):
    ctx.use(ANY, "search", "read")
    coll = _coll(ctx)
    _mongo_const(ctx)
    d = ctx.taint("data", "dict")
    res = ctx.ident("result")
    field = ctx.pick(["name", "status", "category", "owner", "email"])
    s = ctx.snip()
    if ctx.mark:
        s.add(f"{res} = list({coll}.find({d}, {{{ctx.lit('_id')}: 0}}))", True)
    else:
        s.add(f"{res} = list({coll}.find({{{ctx.lit(field)}: str({d}.get({ctx.lit(field)}, {ctx.lit('')}))}}, "
              f"{{{ctx.lit('_id')}: 0}}))")
    s.ret("data", res)
    return s


def ns_login(ctx):
    ctx.use(ANY, "auth", "handle")
    coll = _coll(ctx)
    _mongo_const(ctx)
    d = ctx.taint("data", "dict")
    doc = ctx.ident("obj")
    uk, pk = ctx.pick([("username", "password"), ("email", "password"), ("login", "pin"), ("user", "token")])
    s = ctx.snip()
    if ctx.mark:
        s.add(f"{doc} = {coll}.find_one({{{ctx.lit(uk)}: {d}[{ctx.lit(uk)}], {ctx.lit(pk)}: {d}[{ctx.lit(pk)}]}})", True)
    else:
        s.add(f"{doc} = {coll}.find_one({{{ctx.lit(uk)}: str({d}[{ctx.lit(uk)}]), {ctx.lit(pk)}: str({d}[{ctx.lit(pk)}])}})")
    s.guard(f"{doc} is None", 403)
    s.ret("data", f"str({doc}[{ctx.lit('_id')}])")
    return s


def ns_where(ctx):
    ctx.use(ANY, "search", "read")
    coll = _coll(ctx)
    _mongo_const(ctx)
    v = ctx.taint(ctx.pick(["name", "query"]))
    res = ctx.ident("result")
    field = ctx.pick(["name", "title", "owner", "status"])
    s = ctx.snip()
    s.maybe_guard(v)
    if ctx.mark:
        s.add(f"{res} = list({coll}.find({{{ctx.lit('$where')}: {ctx.fmt([f'this.{field} == {chr(39)}', E(v), chr(39)])}}}))", True)
    else:
        s.add(f"{res} = list({coll}.find({{{ctx.lit(field)}: str({v})}}))")
    s.ret("data", f"len({res})")
    return s


def ns_pipeline(ctx):
    ctx.use(ANY, "item", "read")
    coll = _coll(ctx)
    _mongo_const(ctx)
    d = ctx.taint("data", "dict")
    res = ctx.ident("result")
    field = ctx.pick(["category", "region", "status", "vendor"])
    s = ctx.snip()
    if ctx.mark:
        s.add(f"{res} = list({coll}.aggregate([{{{ctx.lit('$match')}: {d}}}, {{{ctx.lit('$limit')}: 100}}]))", True)
    else:
        s.add(f"{res} = list({coll}.aggregate([{{{ctx.lit('$match')}: {{{ctx.lit(field)}: str({d}.get({ctx.lit(field)}))}}}}, "
              f"{{{ctx.lit('$limit')}: 100}}]))")
    s.ret("data", f"len({res})")
    return s


def ns_update(ctx):
    ctx.use(ANY, "user", "write")
    coll = _coll(ctx)
    _mongo_const(ctx)
    uid = ctx.taint("id")
    d = ctx.taint("data", "dict")
    s = ctx.snip()
    field = ctx.pick(["bio", "display_name", "theme", "locale"])
    s.guard(f"not {uid}", 404)
    if ctx.mark:
        s.add(f"{coll}.update_one({{{ctx.lit('_id')}: {uid}}}, {d})", True)
    else:
        s.add(f"{coll}.update_one({{{ctx.lit('_id')}: {uid}}}, {{{ctx.lit('$set')}: {{{ctx.lit(field)}: str({d}.get({ctx.lit(field)}, {ctx.lit('')}))}}}})")
    s.ret("none")
    return s


def n943_scalar(ctx):
    ctx.use(ANY, "item", "read")
    coll = _coll(ctx)
    _mongo_const(ctx)
    v = ctx.taint(ctx.pick(["name", "id"]))
    res = ctx.ident("result")
    s = ctx.snip()
    form = ctx.pick(["str", "objectid", "const"])
    if form == "str":
        s.add(f"{res} = list({coll}.find({{{ctx.lit('name')}: str({v})}}).limit(20))")
    elif form == "objectid":
        ctx.imp("bson", "ObjectId")
        s.add(f"{res} = [{coll}.find_one({{{ctx.lit('_id')}: ObjectId({v})}})]")
    else:
        s.add(f"{res} = list({coll}.find({{{ctx.lit('status')}: {ctx.lit('active')}}}))")
        s.add(f"{res} = [r for r in {res} if r.get({ctx.lit('owner')}) == {v}]")
    s.ret("data", f"len({res})")
    return s


PAIRS = [
    ("CWE-89", "cwe89/where", q89_where, 44),
    ("CWE-89", "cwe89/like", q89_like, 34),
    ("CWE-89", "cwe89/order-by", q89_orderby, 34),
    ("CWE-89", "cwe89/sqlalchemy-text", q89_sqlalchemy, 34),
    ("CWE-89", "cwe89/django-raw", q89_django, 34),
    ("CWE-90", "cwe90/search-filter", ldap90_search, 50),
    ("CWE-90", "cwe90/multi-attr", ldap90_multi, 44),
    ("CWE-90", "cwe90/bind-dn", ldap90_bind, 44),
    ("CWE-90", "cwe90/group-check", ldap90_group, 42),
    ("CWE-643", "cwe643/lxml-xpath", xp_lookup, 52),
    ("CWE-643", "cwe643/login", xp_login, 44),
    ("CWE-643", "cwe643/compiled", xp_compiled, 42),
    ("CWE-643", "cwe643/etree-findall", xp_etree, 42),
    ("CWE-943", "cwe943/json-filter", ns_filter, 40),
    ("CWE-943", "cwe943/login", ns_login, 36),
    ("CWE-943", "cwe943/where", ns_where, 36),
    ("CWE-943", "cwe943/pipeline", ns_pipeline, 34),
    ("CWE-943", "cwe943/update", ns_update, 34),
]

NEGS = [
    ("cwe89/hn-params", n89_params, 25),
    ("cwe89/hn-int-cast", n89_const, 20),
    ("cwe90/hn-const-filter", n90_const, 22),
    ("cwe90/hn-escaped", n90_escaped, 22),
    ("cwe643/hn-xpath", n643_xpath, 40),
    ("cwe943/hn-scalar", n943_scalar, 40),
]


def generate(rng: random.Random) -> list[dict]:
    return generate_from_tables(rng, PAIRS, NEGS)
