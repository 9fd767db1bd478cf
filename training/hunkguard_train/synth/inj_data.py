"""Synthetic CWE-502 (unsafe deserialization), CWE-611 (XXE) and CWE-1333 (ReDoS / regex injection) examples."""
from __future__ import annotations

import random

from .common import ANY, LOCAL, E, generate_from_tables


# ---------------------------------------------------------------------------------------------- CWE-502
def d502_pickle(ctx):
    ctx.use(ANY, "state", "load")
    raw = ctx.taint("data", "bytes")
    obj = ctx.ident("obj")
    b64 = ctx.chance(0.35)
    api = ctx.pick(["pickle", "pickle", "cPickle"])
    s = ctx.snip()
    s.maybe_guard(raw)
    s.noise()
    src = raw
    if b64:
        ctx.imp("base64")
        src = f"base64.b64decode({raw})"
    with s.maybe_try():
        if ctx.mark:
            if api == "cPickle":
                ctx.imp("_pickle", "loads")
                s.add(f"{obj} = loads({src})", True)
            else:
                ctx.imp("pickle")
                s.add(f"{obj} = pickle.loads({src})", True)
        else:
            ctx.imp("json")
            s.add(f"{obj} = json.loads({src})")
    s.ret("data", f"{obj}")
    return s


def d502_yaml(ctx):
    ctx.use(ANY, "state", "load")
    ctx.imp("yaml")
    text = ctx.taint("data", ctx.pick(["bytes", "str"]))
    obj = ctx.ident("obj")
    form = ctx.pick(["Loader", "FullLoader", "UnsafeLoader", "unsafe_load", "load_all"])
    s = ctx.snip()
    s.maybe_guard(text)
    with s.maybe_try("yaml.YAMLError"):
        if form == "load_all":
            if ctx.mark:
                s.add(f"{obj} = list(yaml.load_all({text}, Loader=yaml.Loader))", True)
            else:
                s.add(f"{obj} = list(yaml.safe_load_all({text}))")
        elif ctx.mark:
            if form == "unsafe_load":
                s.add(f"{obj} = yaml.unsafe_load({text})", True)
            else:
                s.add(f"{obj} = yaml.load({text}, Loader=yaml.{form})", True)
        else:
            s.add(f"{obj} = yaml.safe_load({text})")
    s.ret("data", obj)
    return s


def d502_other(ctx):
    ctx.use(ANY, "state", "load")
    lib = ctx.pick(["marshal", "jsonpickle", "dill", "pandas", "shelve"])
    obj = ctx.ident("obj")
    s = ctx.snip()
    if lib == "shelve":
        ctx.imp("os")
        key = ctx.taint("id")
        raw = ctx.taint("data", "bytes")
        ctx.reserve("fh")
        tmp = ctx.pick(["tmp_path", "spool", "db_file"])
        db = ctx.pick(["db", "shelf", "store"])
        ctx.reserve(tmp, db)
        s.add(f"{tmp} = os.path.join({ctx.lit('/tmp')}, {ctx.lit('import.db')})")
        with s.block(f"with open({tmp}, {ctx.lit('wb')}) as fh:"):
            s.add(f"fh.write({raw})")
        if ctx.mark:
            ctx.imp("shelve")
            with s.block(f"with shelve.open({tmp}) as {db}:", True):
                s.add(f"{obj} = {db}[{key}]", True)
        else:
            ctx.imp("json")
            with s.block(f"with open({tmp}) as fh:"):
                s.add(f"{obj} = json.load(fh)[{key}]")
        s.ret("data", obj)
        return s
    raw = ctx.taint("data", "str" if lib == "jsonpickle" else "bytes")
    s.maybe_guard(raw)
    if ctx.mark:
        ctx.imp("io" if lib == "pandas" else lib)
        call = {"marshal": f"marshal.loads({raw})", "jsonpickle": f"jsonpickle.decode({raw})",
                "dill": f"dill.loads({raw})", "pandas": f"pd.read_pickle(io.BytesIO({raw}))"}[lib]
        if lib == "pandas":
            ctx.imp("pandas as pd")
        s.add(f"{obj} = {call}", True)
    else:
        if lib == "pandas":
            ctx.imp("io")
            ctx.imp("pandas as pd")
            s.add(f"{obj} = pd.read_json(io.BytesIO({raw}))")
        else:
            ctx.imp("json")
            s.add(f"{obj} = json.loads({raw})")
    s.ret("data", f"str({obj})" if lib == "pandas" else obj)
    return s


def d502_torch(ctx):
    ctx.use(ANY, "state", "load")
    ctx.imp("torch")
    raw = ctx.taint("data", "bytes")
    obj = ctx.ident("obj")
    dev = ctx.pick(["", ", map_location=" + ctx.lit("cpu"), ", map_location=torch.device(" + ctx.lit("cpu") + ")"])
    s = ctx.snip()
    s.maybe_guard(raw)
    ctx.imp("io")
    s.noise()
    wo = "" if ctx.mark else ", weights_only=True"
    s.add(f"{obj} = torch.load(io.BytesIO({raw}){dev}{wo})", ctx.mark)
    s.ret("data", f"list({obj}.keys())" if ctx.chance(0.5) else f"len({obj})")
    return s


def d502_signed(ctx):
    ctx.use(("flask", "django", "fastapi", "aiohttp", "wsgi", "httpserver", "lib", "method"), "state", "load")
    ctx.imp("pickle")
    ctx.imp("base64")
    cookie = ctx.taint("data", where="cookie")
    sig = ctx.taint(ctx.pick(["header"]), where="header")
    key = ctx.const(ctx.pick(["SECRET_KEY", "SIGNING_KEY", "COOKIE_KEY"]),
                    f"os.environ[{ctx.lit(ctx.pick(['SECRET_KEY', 'APP_SIGNING_KEY', 'COOKIE_SECRET']))}].encode()")
    ctx.imp("os")
    blob = ctx.pick(["blob", "decoded", "buf_bytes"])
    ctx.reserve(blob)
    obj = ctx.ident("obj")
    s = ctx.snip()
    s.add(f"{blob} = base64.urlsafe_b64decode({cookie})")
    if not ctx.mark:
        ctx.imp("hmac")
        ctx.imp("hashlib")
        s.guard(f"not hmac.compare_digest(hmac.new({key}, {blob}, hashlib.sha256).hexdigest(), {sig})", 403)
    s.add(f"{obj} = pickle.loads({blob})", ctx.mark)
    s.ret("data", f"{obj}.get({ctx.lit('user')})")
    return s


def n502_own(ctx):
    ctx.use(ANY, "state", "write")
    ctx.imp("pickle")
    v = ctx.taint(ctx.pick(["name", "id"]))
    path = ctx.const(ctx.pick(["CACHE_PATH", "STATE_FILE", "SNAPSHOT_PATH"]),
                     ctx.lit(ctx.pick(["/var/cache/app/state.pkl", "cache.pickle", "/tmp/app-state.pkl"])))
    st = ctx.ident("obj")
    s = ctx.snip()
    s.add(f"{st} = {{{ctx.lit('last')}: {v}, {ctx.lit('count')}: 1}}")
    with s.block(f"with open({path}, {ctx.lit('wb')}) as fh:"):
        s.add(f"pickle.dump({st}, fh)" if ctx.chance(0.5) else f"fh.write(pickle.dumps({st}))")
    s.ret("none")
    return s


def n502_safe_loaders(ctx):
    ctx.use(ANY, "state", "load")
    raw = ctx.taint("data", "bytes")
    obj = ctx.ident("obj")
    form = ctx.pick(["yaml", "json", "torch", "yaml_loader"])
    s = ctx.snip()
    if form == "yaml":
        ctx.imp("yaml")
        s.add(f"{obj} = yaml.safe_load({raw})")
    elif form == "yaml_loader":
        ctx.imp("yaml")
        s.add(f"{obj} = yaml.load({raw}, Loader=yaml.SafeLoader)")
    elif form == "json":
        ctx.imp("json")
        s.add(f"{obj} = json.loads({raw})")
    else:
        ctx.imp("torch")
        ctx.imp("io")
        s.add(f"{obj} = torch.load(io.BytesIO({raw}), weights_only=True)")
    s.ret("data", f"len({obj})")
    return s


def n502_local_model(ctx):
    ctx.use(LOCAL + ("cli", "worker"), "state", "load")
    ctx.imp("torch")
    path = ctx.const(ctx.pick(["MODEL_PATH", "WEIGHTS", "CHECKPOINT"]),
                     ctx.lit(ctx.pick(["models/classifier.pt", "/opt/app/weights.pt", "checkpoint.pth"])))
    v = ctx.taint("text")
    obj = ctx.ident("obj")
    s = ctx.snip()
    s.add(f"{obj} = torch.load({path}, map_location={ctx.lit('cpu')}, weights_only=True)")
    s.ret("data", f"{{{ctx.lit('input')}: {v}, {ctx.lit('keys')}: len({obj})}}")
    return s


# ---------------------------------------------------------------------------------------------- CWE-611
def x611_lxml_parser(ctx):
    ctx.use(ANY, "xml", "parse")
    ctx.imp("lxml", "etree")
    raw = ctx.taint("data", "bytes")
    pv = ctx.pick(["parser", "xml_parser", "p"])
    root = ctx.ident("tree")
    ctx.reserve(pv)
    opts = ctx.pick([["resolve_entities=True"], ["load_dtd=True", "resolve_entities=True"],
                     ["resolve_entities=True", "no_network=False"], ["load_dtd=True", "no_network=False"]])
    fn = ctx.pick(["fromstring", "XML"])
    s = ctx.snip()
    s.maybe_guard(raw)
    if ctx.mark:
        s.add(f"{pv} = etree.XMLParser({', '.join(opts)})", True)
    else:
        s.add(f"{pv} = etree.XMLParser(resolve_entities=False, no_network=True)")
    with s.maybe_try("etree.XMLSyntaxError"):
        s.add(f"{root} = etree.{fn}({raw}, {pv})", ctx.mark)
    s.ret("data", f"{root}.findtext({ctx.lit(ctx.pick(['name', 'id', 'total', 'title']))})")
    return s


def x611_lxml_default(ctx):
    ctx.use(ANY, "xml", "parse")
    raw = ctx.taint("data", "bytes")
    root = ctx.ident("tree")
    fixv = ctx.pick(["defused", "parser"])
    op = ctx.pick(["fromstring", "parse"])
    dtdv = ctx.chance(0.3)
    s = ctx.snip()
    s.maybe_guard(raw)
    s.noise()
    if op == "parse":
        ctx.imp("io")
        src = f"io.BytesIO({raw})"
    else:
        src = raw
    if ctx.mark:
        ctx.imp("lxml", "etree")
        s.add(f"{root} = etree.{op}({src}{', etree.XMLParser(dtd_validation=True)' if dtdv else ''})", True)
    elif fixv == "defused":
        ctx.imp("defusedxml.ElementTree", None)
        s.add(f"{root} = defusedxml.ElementTree.{op}({src})")
    else:
        ctx.imp("lxml", "etree")
        s.add(f"{root} = etree.{op}({src}, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))")
    node = root if op == "fromstring" else f"{root}.getroot()"
    s.ret("data", f"[c.tag for c in {node}]")
    return s


def x611_sax(ctx):
    ctx.use(ANY, "xml", "parse")
    raw = ctx.taint("data", "bytes")
    ctx.imp("io")
    pv = ctx.pick(["parser", "reader", "sax_parser"])
    hv = ctx.pick(["handler", "collector", "content_handler"])
    ctx.reserve(pv, hv)
    fixv = ctx.pick(["off", "defused"])
    hcls = ctx.pick(["ItemHandler", "FeedHandler", "RecordCollector", "OrderHandler"])
    ctx.imp(ctx.pick(["app.xmlhandlers", "handlers", "importer.sax"]), hcls)
    s = ctx.snip()
    s.maybe_guard(raw)
    if ctx.mark:
        ctx.imp("xml.sax")
        s.add(f"{pv} = xml.sax.make_parser()", fixv == "defused")
        s.add(f"{pv}.setFeature(xml.sax.handler.feature_external_ges, True)", True)
    elif fixv == "off":
        ctx.imp("xml.sax")
        s.add(f"{pv} = xml.sax.make_parser()")
        s.add(f"{pv}.setFeature(xml.sax.handler.feature_external_ges, False)")
    else:
        ctx.imp("defusedxml.sax")
        s.add(f"{pv} = defusedxml.sax.make_parser()")
    s.add(f"{hv} = {hcls}()")
    s.add(f"{pv}.setContentHandler({hv})")
    s.add(f"{pv}.parse(io.BytesIO({raw}))", ctx.mark)
    s.ret("data", f"{hv}.items")
    return s


def x611_minidom(ctx):
    ctx.use(ANY, "xml", "parse")
    raw = ctx.taint("data", ctx.pick(["bytes", "str"]))
    doc = ctx.ident("tree")
    tag = ctx.pick(["item", "entry", "order", "record", "line"])
    api = ctx.pick(["minidom", "pulldom", "etree"])
    sp = ctx.pick(["sp", "sax_parser", "reader"])
    ctx.reserve(sp)
    s = ctx.snip()
    s.maybe_guard(raw)
    if api == "minidom":
        if ctx.mark:
            ctx.imp("xml.dom", "minidom")
            s.add(f"{doc} = minidom.parseString({raw})", True)
        else:
            ctx.imp("defusedxml", "minidom")
            s.add(f"{doc} = minidom.parseString({raw})")
        s.ret("data", f"len({doc}.getElementsByTagName({ctx.lit(tag)}))")
    elif api == "pulldom":
        if ctx.mark:
            ctx.imp("xml.dom", "pulldom")
            ctx.imp("xml.sax")
            s.add(f"{sp} = xml.sax.make_parser()", True)
            s.add(f"{sp}.setFeature(xml.sax.handler.feature_external_ges, True)", True)
            s.add(f"{doc} = pulldom.parseString({raw}, parser={sp})", True)
        else:
            ctx.imp("defusedxml", "pulldom")
            s.add(f"{doc} = pulldom.parseString({raw})")
        s.ret("data", f"sum(1 for ev, node in {doc} if ev == {ctx.lit('START_ELEMENT')})")
    else:
        if ctx.mark:
            ctx.imp("xml.etree.ElementTree", "fromstring")
            s.add(f"{doc} = fromstring({raw})", True)
        else:
            ctx.imp("defusedxml.ElementTree", "fromstring")
            s.add(f"{doc} = fromstring({raw})")
        s.ret("data", f"len({doc}.findall({ctx.lit('.//' + tag)}))")
    return s


def n611_defused(ctx):
    ctx.use(ANY, "xml", "parse")
    raw = ctx.taint("data", "bytes")
    root = ctx.ident("tree")
    s = ctx.snip()
    form = ctx.pick(["defused", "lxml", "const"])
    if form == "defused":
        ctx.imp("defusedxml.ElementTree", "fromstring")
        s.add(f"{root} = fromstring({raw})")
    elif form == "lxml":
        ctx.imp("lxml", "etree")
        s.add(f"{root} = etree.fromstring({raw}, etree.XMLParser(resolve_entities=False, no_network=True))")
    else:
        ctx.imp("lxml", "etree")
        cfg = ctx.lit(ctx.pick(["config/schema.xml", "/etc/app/layout.xml", "static/defaults.xml"]))
        s.add(f"{root} = etree.parse({cfg}).getroot()")
        s.ret("data", f"{root}.findtext({raw}.decode())")
        return s
    s.ret("data", f"{root}.tag")
    return s


# ---------------------------------------------------------------------------------------------- CWE-1333
_NESTED = [
    (r"^(\w+\s?)*$", r"^[\w\s]*$"),
    (r"^([a-z0-9]+)+@example\.com$", r"^[a-z0-9]+@example\.com$"),
    (r"^(\d+)*$", r"^\d*$"),
    (r"^(a|aa)+$", r"^a+$"),
    (r"^([a-zA-Z]+)*[0-9]$", r"^[a-zA-Z]*[0-9]$"),
    (r"^(([a-z])+.)+[A-Z]([a-z])+$", r"^[a-z.]+[A-Z][a-z]+$"),
    (r"^([\w.-]+)+@([\w-]+\.)+\w+$", r"^[\w.-]+@[\w-]+(?:\.[\w-]+)+$"),
    (r"^(\w+[-.]?)+$", r"^\w+(?:[-.]\w+)*$"),
    (r"^(x+x+)+y$", r"^x{2,}y$"),
    (r"^(\s*\w+\s*)+=", r"^\s*\w+\s*="),
]


def r1333_user_pattern(ctx):
    ctx.use(ANY, "search", "read")
    ctx.imp("re")
    pat = ctx.taint("pattern")
    text = ctx.pick(["haystack", "corpus", "content", "names"])
    ctx.reserve(text)
    src = ctx.pick(["handle", "const"])
    res = ctx.ident("result")
    op = ctx.pick(["search", "findall", "compile", "fullmatch", "match"])
    store = ctx.handle(["store", "index", "repo"], local=[["{n} = load_documents()"]],
                       module=[["{n} = load_documents()"]])
    s = ctx.snip()
    s.maybe_guard(pat)
    s.add(f"{text} = {store}.all_text()")
    p = pat if ctx.mark else f"re.escape({pat})"
    with s.maybe_try("re.error"):
        if op == "compile":
            rx = ctx.pick(["rx", "compiled", "matcher"])
            ctx.reserve(rx)
            s.add(f"{rx} = re.compile({p}{', re.IGNORECASE' if ctx.chance(0.4) else ''})", ctx.mark)
            s.add(f"{res} = {rx}.findall({text})", ctx.mark)
        elif op == "findall":
            s.add(f"{res} = re.findall({p}, {text})", ctx.mark)
        else:
            s.add(f"{res} = bool(re.{op}({p}, {text}))", ctx.mark)
    s.ret("data", res)
    return s


def r1333_nested(ctx):
    ctx.use(ANY, "user", "write")
    ctx.imp("re")
    v = ctx.taint(ctx.pick(["name", "email", "text"]))
    vuln, fixed = ctx.pick(_NESTED)
    rx = ctx.pick(["NAME_RE", "PATTERN", "VALID_RE", "FORMAT_RE", "INPUT_RE"])
    inline = ctx.chance(0.35)
    op = ctx.pick(["match", "fullmatch", "search"])
    s = ctx.snip()
    s.maybe_guard(v)
    regex = ctx.rlit(vuln if ctx.mark else fixed)
    if inline:
        cond = f"not re.{op}({regex}, {v})"
    else:
        ctx.const(rx, f"re.compile({regex})", mark=ctx.mark)
        cond = f"not {rx}.{op}({v})"
    with s.block(f"if {cond}:", ctx.mark):
        s.fail()
    s.ret("data", f"{v}.strip()")
    return s


def r1333_built(ctx):
    ctx.use(ANY, "search", "read")
    ctx.imp("re")
    term = ctx.taint("query")
    items = ctx.handle(["catalog", "titles", "entries_src"], local=[["{n} = load_titles()"]],
                       module=[["{n} = load_titles()"]])
    rx = ctx.pick(["rx", "matcher", "compiled"])
    res = ctx.ident("result")
    it = ctx.pick(["t", "title", "row"])
    ctx.reserve(rx, it)
    shape = ctx.pick([(".*", ".*"), ("^", ""), (r"\b", r"\b"), ("(?i)", "")])
    s = ctx.snip()
    s.maybe_guard(term)
    val = E(term) if ctx.mark else E(f"re.escape({term})")
    s.add(f"{rx} = re.compile({ctx.fmt([shape[0], val, shape[1]])})", ctx.mark)
    s.add(f"{res} = [{it} for {it} in {items} if {rx}.search({it})]")
    s.ret("data", res)
    return s


def r1333_split(ctx):
    ctx.use(ANY, "item", "handle")
    ctx.imp("re")
    sep = ctx.taint(ctx.pick(["pattern", "header"]))
    text = ctx.taint("data")
    parts = ctx.ident("result")
    op = ctx.pick(["split", "sub"])
    s = ctx.snip()
    s.maybe_guard(sep)
    p = sep if ctx.mark else f"re.escape({sep})"
    if op == "split":
        s.add(f"{parts} = re.split({p}, {text})", ctx.mark)
    else:
        s.add(f"{parts} = re.sub({p}, {ctx.lit(' ')}, {text})", ctx.mark)
    s.ret("data", parts)
    return s


def n1333_fixed(ctx):
    ctx.use(ANY, "user", "write")
    ctx.imp("re")
    v = ctx.taint(ctx.pick(["name", "id", "email"]))
    regex = ctx.pick([r"^[a-z]+$", r"^[A-Za-z0-9_]{3,32}$", r"^\d{1,9}$", r"^[\w.+-]+@[\w-]+\.[\w.]+$",
                      r"^[a-f0-9]{32}$"])
    s = ctx.snip()
    if ctx.chance(0.5):
        rx = ctx.const(ctx.pick(["NAME_RE", "VALID_RE", "ID_RE"]), f"re.compile({ctx.rlit(regex)})")
        s.guard(f"not {rx}.fullmatch({v})")
    else:
        s.guard(f"not re.match({ctx.rlit(regex)}, {v})")
    s.ret("data", v)
    return s


def n1333_escaped(ctx):
    ctx.use(ANY, "search", "read")
    ctx.imp("re")
    term = ctx.taint("query")
    text = ctx.taint("data")
    hits = ctx.ident("result")
    s = ctx.snip()
    s.maybe_guard(term)
    s.add(f"{hits} = re.findall(re.escape({term}), {text})")
    s.ret("data", f"len({hits})")
    return s


PAIRS = [
    ("CWE-502", "cwe502/pickle", d502_pickle, 40),
    ("CWE-502", "cwe502/yaml", d502_yaml, 38),
    ("CWE-502", "cwe502/other-formats", d502_other, 36),
    ("CWE-502", "cwe502/torch-load", d502_torch, 34),
    ("CWE-502", "cwe502/unsigned-cookie", d502_signed, 32),
    ("CWE-611", "cwe611/lxml-parser", x611_lxml_parser, 48),
    ("CWE-611", "cwe611/lxml-default", x611_lxml_default, 44),
    ("CWE-611", "cwe611/sax", x611_sax, 44),
    ("CWE-611", "cwe611/dom", x611_minidom, 44),
    ("CWE-1333", "cwe1333/user-pattern", r1333_user_pattern, 48),
    ("CWE-1333", "cwe1333/nested-quantifier", r1333_nested, 48),
    ("CWE-1333", "cwe1333/built-pattern", r1333_built, 44),
    ("CWE-1333", "cwe1333/split-sub", r1333_split, 40),
]

NEGS = [
    ("cwe502/hn-own-pickle", n502_own, 15),
    ("cwe502/hn-safe-loader", n502_safe_loaders, 15),
    ("cwe502/hn-local-model", n502_local_model, 15),
    ("cwe611/hn-defused", n611_defused, 40),
    ("cwe1333/hn-fixed-regex", n1333_fixed, 22),
    ("cwe1333/hn-escaped", n1333_escaped, 22),
]


def generate(rng: random.Random) -> list[dict]:
    return generate_from_tables(rng, PAIRS, NEGS)
