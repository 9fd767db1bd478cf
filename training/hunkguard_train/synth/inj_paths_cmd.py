"""Synthetic CWE-22 (path traversal), CWE-78 (OS command injection) and CWE-94 (code injection) examples."""
from __future__ import annotations

import random

from .common import ANY, ASYNC, CLI, LOCAL, WEB, E, generate_from_tables

N_PAIRS = 36
N_NEG = 12


def _list(ctx, items, extra=()):
    return "[" + ", ".join([ctx.lit(x) for x in items] + list(extra)) + "]"


# ---------------------------------------------------------------------------------------------- CWE-22
_BASES = ["BASE_DIR", "UPLOAD_DIR", "DATA_DIR", "STORAGE_ROOT", "MEDIA_ROOT", "FILES_DIR", "REPORT_DIR", "DOCS_ROOT"]
_BASEV = ["/srv/app/uploads", "/var/lib/app/files", "/data/reports", "/opt/service/media", "/srv/docs",
          "/var/www/static/files", "/home/app/storage", "/mnt/shared/exports"]


def _base(ctx):
    return ctx.const(ctx.pick(_BASES), ctx.lit(ctx.pick(_BASEV)))


def _fh(ctx):
    n = ctx.pick(["fh", "fp", "stream", "infile", "src_file"])
    ctx.reserve(n)
    return n


def _contain(ctx, s, pv, base, fixv):
    """Fixed twin: resolve the path and require it to stay under `base`."""
    if fixv == "realpath":
        s.guard(f"not {pv}.startswith(os.path.realpath({base}) + os.sep)", 403)
    else:
        s.guard(f"os.path.commonpath([{pv}, {base}]) != {base}", 403)


def t22_open(ctx):
    ctx.use(ANY, "file", "read")
    ctx.imp("os")
    base = _base(ctx)
    name = ctx.taint("path")
    pv = ctx.ident("pathvar")
    out = ctx.ident("data")
    fh = _fh(ctx)
    fixv = ctx.pick(["realpath", "realpath", "common", "basename", "secure"])
    join = ctx.pick(["join", "join", "fmt"])
    mode = ctx.pick(["", ", " + ctx.lit("r"), ", encoding=" + ctx.lit("utf-8")])
    s = ctx.snip()
    s.maybe_guard(name)
    s.noise()
    if ctx.mark:
        build = f"os.path.join({base}, {name})" if join == "join" else ctx.fmt([E(base), "/", E(name)])
        s.add(f"{pv} = {build}", True)
    elif fixv in ("realpath", "common"):
        s.add(f"{pv} = os.path.realpath(os.path.join({base}, {name}))")
        _contain(ctx, s, pv, base, fixv)
    elif fixv == "basename":
        s.add(f"{pv} = os.path.join({base}, os.path.basename({name}))")
    else:
        ctx.imp("werkzeug.utils", "secure_filename")
        s.add(f"{pv} = os.path.join({base}, secure_filename({name}))")
    with s.maybe_try("OSError", 404):
        with s.block(f"with open({pv}{mode}) as {fh}:", ctx.mark):
            s.add(f"{out} = {fh}.read()")
    s.ret("text", out)
    return s


def t22_pathlib(ctx):
    ctx.use(ANY, "file", ctx.pick(["read", "delete"]))
    ctx.imp("pathlib", "Path")
    rootn = ctx.pick(_BASES)
    root = ctx.const(rootn, f"Path({ctx.lit(ctx.pick(_BASEV))})")
    name = ctx.taint("path")
    pv = ctx.ident("pathvar")
    op = ctx.pick(["read_text", "read_bytes", "unlink", "stat"])
    check = ctx.pick(["relative", "parents"])
    s = ctx.snip()
    s.maybe_guard(name)
    s.noise()
    if ctx.mark:
        s.add(f"{pv} = {root} / {name}", True)
    else:
        s.add(f"{pv} = ({root} / {name}).resolve()")
        if check == "relative":
            s.guard(f"not {pv}.is_relative_to({root}.resolve())", 403)
        else:
            s.guard(f"{root}.resolve() not in {pv}.parents", 403)
    if op == "read_text":
        out = ctx.ident("data")
        s.add(f"{out} = {pv}.read_text()", ctx.mark)
        s.ret("text", out)
    elif op == "read_bytes":
        out = ctx.ident("data")
        s.add(f"{out} = {pv}.read_bytes()", ctx.mark)
        s.ret("data", f"len({out})")
    elif op == "stat":
        s.add(f"{ctx.pick(['size', 'nbytes'])} = {pv}.stat().st_size", ctx.mark)
        s.ret("data", f"{pv}.name")
    else:
        s.add(f"{pv}.unlink()", ctx.mark)
        s.ret("none")
    return s


def t22_serve(ctx):
    fw = ctx.use(("flask", "flask", "django", "fastapi", "aiohttp"), "file", "read")
    ctx.imp("os")
    base = _base(ctx)
    name = ctx.taint("path")
    pv = ctx.ident("pathvar")
    s = ctx.snip()
    s.maybe_guard(name)
    s.noise()
    lines = []
    if fw == "flask":
        if ctx.mark:
            ctx.imp("flask", "send_file")
            lines.append((f"return send_file(os.path.join({base}, {name}))", True))
        else:
            ctx.imp("flask", "send_from_directory")
            lines.append((f"return send_from_directory({base}, {name})", False))
    elif fw == "django":
        ctx.imp("django.http", "FileResponse")
        if ctx.mark:
            s.add(f"{pv} = os.path.join({base}, {name})", True)
        else:
            ctx.imp("django.utils._os", "safe_join")
            s.add(f"{pv} = safe_join({base}, {name})")
        lines.append((f"return FileResponse(open({pv}, {ctx.lit('rb')}))", ctx.mark))
    else:
        if ctx.mark:
            s.add(f"{pv} = os.path.join({base}, {name})", True)
        else:
            s.add(f"{pv} = os.path.realpath(os.path.join({base}, {name}))")
            _contain(ctx, s, pv, base, ctx.alt(["realpath", "common"]))
        if fw == "fastapi":
            ctx.imp("fastapi.responses", "FileResponse")
            lines.append((f"return FileResponse({pv})", ctx.mark))
        else:
            ctx.imp("aiohttp", "web")
            lines.append((f"return web.FileResponse({pv})", ctx.mark))
    s.ret("raw", lines=lines)
    return s


def t22_write(ctx):
    ctx.use(ANY, "file", "write")
    ctx.imp("os")
    base = _base(ctx)
    name = ctx.taint("path")
    content = ctx.taint("data", "bytes")
    pv = ctx.ident("pathvar")
    fh = _fh(ctx)
    fixv = ctx.pick(["basename", "secure", "realpath"])
    s = ctx.snip()
    s.maybe_guard(name)
    s.noise()
    if ctx.mark:
        s.add(f"{pv} = os.path.join({base}, {name})", True)
    elif fixv == "basename":
        s.add(f"{pv} = os.path.join({base}, os.path.basename({name}))")
    elif fixv == "secure":
        ctx.imp("werkzeug.utils", "secure_filename")
        s.add(f"{pv} = os.path.join({base}, secure_filename({name}))")
    else:
        s.add(f"{pv} = os.path.realpath(os.path.join({base}, {name}))")
        _contain(ctx, s, pv, base, "realpath")
    with s.block(f"with open({pv}, {ctx.lit('wb')}) as {fh}:", ctx.mark):
        s.add(f"{fh}.write({content})")
    s.ret("none")
    return s


def t22_archive(ctx):
    ctx.use(ANY, "file", "handle")
    ctx.imp("io")
    dest = _base(ctx)
    blob = ctx.taint("data", "bytes")
    arc = ctx.pick(["tar", "archive", "bundle"])
    ctx.reserve(arc)
    kind = ctx.pick(["tar", "tar", "zip"])
    s = ctx.snip()
    s.noise()
    if kind == "tar":
        ctx.imp("tarfile")
        with s.block(f"with tarfile.open(fileobj=io.BytesIO({blob})) as {arc}:"):
            if ctx.mark:
                s.add(f"{arc}.extractall({dest})", True)
            else:
                s.add(f"{arc}.extractall({dest}, filter={ctx.lit('data')})")
        s.ret("none")
        return s
    ctx.imp("zipfile")
    ctx.imp("os")
    m = ctx.pick(["member", "entry", "info_name", "item_name"])
    pv = ctx.ident("pathvar")
    fh = _fh(ctx)
    ctx.reserve(m)
    with s.block(f"with zipfile.ZipFile(io.BytesIO({blob})) as {arc}:"):
        with s.block(f"for {m} in {arc}.namelist():"):
            if ctx.mark:
                s.add(f"{pv} = os.path.join({dest}, {m})", True)
            else:
                s.add(f"{pv} = os.path.realpath(os.path.join({dest}, {m}))")
                with s.block(f"if not {pv}.startswith(os.path.realpath({dest}) + os.sep):"):
                    s.add("continue")
            s.add(f"os.makedirs(os.path.dirname({pv}), exist_ok=True)")
            with s.block(f"with open({pv}, {ctx.lit('wb')}) as {fh}:", ctx.mark):
                s.add(f"{fh}.write({arc}.read({m}))")
    s.ret("none")
    return s


def n22_fixed(ctx):
    ctx.use(ANY, "file", "read")
    ctx.imp("os")
    base = _base(ctx)
    key = ctx.taint("id")
    fh = _fh(ctx)
    fname = ctx.pick(["settings.json", "index.html", "terms.txt", "defaults.cfg", "catalog.json"])
    out = ctx.ident("data")
    s = ctx.snip()
    s.noise()
    with s.block(f"with open(os.path.join({base}, {ctx.lit(fname)})) as {fh}:"):
        s.add(f"{out} = {fh}.read()")
    s.ret("data", f"{{{ctx.lit('key')}: {key}, {ctx.lit('size')}: len({out})}}")
    return s


def n22_generated(ctx):
    ctx.use(ANY, "file", "write")
    ctx.imp("os")
    ctx.imp("uuid")
    base = _base(ctx)
    content = ctx.taint("data", "bytes")
    pv = ctx.ident("pathvar")
    fh = _fh(ctx)
    ext = ctx.pick([".bin", ".png", ".pdf", ".dat", ""])
    s = ctx.snip()
    s.add(f"{pv} = os.path.join({base}, {ctx.fmt([E('uuid.uuid4().hex'), ext])})")
    with s.block(f"with open({pv}, {ctx.lit('wb')}) as {fh}:"):
        s.add(f"{fh}.write({content})")
    s.ret("data", f"os.path.basename({pv})")
    return s


def n22_allowlist(ctx):
    ctx.use(ANY, "file", "read")
    ctx.imp("pathlib", "Path")
    docs = ctx.const(ctx.pick(["DOCUMENTS", "PAGES", "KNOWN_FILES"]),
                     "{" + ", ".join(f"{ctx.lit(k)}: {ctx.lit(v)}" for k, v in
                                     [("terms", "terms.html"), ("privacy", "privacy.html"), ("faq", "faq.html")]) + "}")
    base = ctx.const(ctx.pick(_BASES), f"Path({ctx.lit(ctx.pick(_BASEV))})")
    name = ctx.taint("path")
    fn = ctx.ident("pathvar")
    s = ctx.snip()
    s.add(f"{fn} = {docs}.get({name})")
    s.guard(f"{fn} is None", 404)
    s.ret("html", f"({base} / {fn}).read_text()")
    return s


# ---------------------------------------------------------------------------------------------- CWE-78
_CMDS = [
    ("ping", ["-c", "1"], "host"), ("nslookup", [], "host"), ("dig", ["+short"], "host"),
    ("traceroute", ["-m", "5"], "host"), ("whois", [], "host"), ("host", [], "host"),
    ("git", ["checkout"], "arg"), ("git", ["log", "--oneline"], "arg"), ("docker", ["pull"], "arg"),
    ("pip", ["download"], "arg"), ("du", ["-sh"], "path"), ("file", ["--brief"], "path"),
    ("convert", ["-resize", "200x200"], "path"), ("wc", ["-l"], "path"), ("identify", [], "path"),
]


def _cmd(ctx):
    prog, flags, role = ctx.pick(_CMDS)
    return prog, flags, ctx.taint(role)


def t78_system(ctx):
    ctx.use(ANY, "net" if ctx.chance(0.5) else "build", "run")
    prog, flags, arg = _cmd(ctx)
    cv = ctx.ident("cmd")
    rc = ctx.pick(["rc", "status", "code", "exit_code"])
    ctx.reserve(rc)
    sep = ctx.chance(0.5)
    s = ctx.snip()
    s.maybe_guard(arg)
    s.noise()
    if ctx.mark:
        ctx.imp("os")
        text = ctx.fmt([" ".join([prog] + flags) + " ", E(arg)])
        if sep:
            s.add(f"{cv} = {text}", True)
            s.add(f"{rc} = os.system({cv})", True)
        else:
            s.add(f"{rc} = os.system({text})", True)
    else:
        ctx.imp("subprocess")
        argv = _list(ctx, [prog] + flags, [arg])
        if sep:
            s.add(f"{cv} = {argv}")
            s.add(f"{rc} = subprocess.call({cv})")
        else:
            s.add(f"{rc} = subprocess.call({argv})")
    s.ret("data", f"{rc} == 0")
    return s


def t78_shell(ctx):
    ctx.use(ANY, "net" if ctx.chance(0.5) else "build", "run")
    ctx.imp("subprocess")
    prog, flags, arg = _cmd(ctx)
    cv = ctx.ident("cmd")
    out = ctx.ident("result")
    fn = ctx.pick(["run", "check_output", "check_output", "Popen"])
    sep = ctx.chance(0.5)
    s = ctx.snip()
    s.maybe_guard(arg)
    s.noise()
    if not ctx.mark:
        ctx.imp("shlex")
    val = E(arg) if ctx.mark else E(f"shlex.quote({arg})")
    text = ctx.fmt([" ".join([prog] + flags) + " ", val, " 2>&1" if fn != "Popen" and ctx.chance(0.3) else ""])
    tail = {"run": ["shell=True", "capture_output=True", "text=True"], "check_output": ["shell=True", "text=True"],
            "Popen": ["shell=True", "stdout=subprocess.PIPE", "text=True"]}[fn]
    if sep:
        s.add(f"{cv} = {text}", ctx.mark)
        s.call(out, f"subprocess.{fn}", [cv] + tail, ctx.mark)
    else:
        s.call(out, f"subprocess.{fn}", [text] + tail, ctx.mark)
    res = {"run": f"{out}.stdout", "check_output": out, "Popen": f"{out}.communicate()[0]"}[fn]
    s.ret("text", res)
    return s


def t78_popen(ctx):
    ctx.use(ANY, "build", "read")
    prog, flags, arg = _cmd(ctx)
    out = ctx.ident("result")
    s = ctx.snip()
    s.maybe_guard(arg)
    s.noise()
    if ctx.mark:
        ctx.imp("os")
        s.add(f"{out} = os.popen({ctx.fmt([' '.join([prog] + flags) + ' ', E(arg)])}).read()", True)
    else:
        ctx.imp("subprocess")
        s.add(f"{out} = subprocess.run({_list(ctx, [prog] + flags, [arg])}, capture_output=True, text=True).stdout")
    s.ret("text", out)
    return s


def t78_async(ctx):
    ctx.use(ASYNC + ("aiohttp",), "net", "run")
    ctx.imp("asyncio")
    ctx.need_async = True
    prog, flags, arg = _cmd(ctx)
    pr = ctx.pick(["proc", "process", "child"])
    ctx.reserve(pr, "stdout", "stderr")
    s = ctx.snip()
    s.maybe_guard(arg)
    s.noise()
    if ctx.mark:
        s.call(pr, "await asyncio.create_subprocess_shell",
               [ctx.fmt([" ".join([prog] + flags) + " ", E(arg)]), "stdout=asyncio.subprocess.PIPE"], True)
    else:
        s.call(pr, "await asyncio.create_subprocess_exec",
               [ctx.lit(x) for x in [prog] + flags] + [arg, "stdout=asyncio.subprocess.PIPE"])
    s.add(f"stdout, _ = await {pr}.communicate()")
    s.ret("text", "stdout.decode()")
    return s


def t78_files(ctx):
    ctx.use(CLI + LOCAL + ("flask", "django", "worker"), "build", "run")
    ctx.imp("subprocess")
    files = ctx.taint(ctx.pick(["files", "paths", "names", "targets", "sources"]), "list")
    prog = ctx.pick([("tar", ["czf", "/tmp/bundle.tgz"]), ("zip", ["-r", "/tmp/out.zip"]), ("rm", ["-f"]),
                     ("chmod", ["644"]), ("gzip", ["-k"]), ("md5sum", [])])
    words = " ".join([prog[0]] + prog[1]) + " "
    s = ctx.snip()
    s.guard(f"not {files}")
    s.noise()
    if ctx.mark:
        joined = f"{ctx.lit(' ')}.join({files})"
        s.call(None, "subprocess.run", [f"{ctx.lit(words)} + {joined}", "shell=True", "check=True"], True)
    else:
        s.call(None, "subprocess.run", [_list(ctx, [prog[0]] + prog[1] + ["--"], [f"*{files}"]), "check=True"])
    s.ret("none")
    return s


def n78_fixed(ctx):
    ctx.use(ANY, "build", "read")
    ctx.imp("subprocess")
    ref = ctx.taint("id")
    out = ctx.ident("result")
    cmd = ctx.pick([["git", "status", "--short"], ["git", "rev-parse", "HEAD"], ["uptime"], ["df", "-h"],
                    ["systemctl", "is-active", "nginx"]])
    shell = ctx.chance(0.4)
    s = ctx.snip()
    s.noise()
    if shell:
        s.call(out, "subprocess.check_output", [ctx.lit(" ".join(cmd)), "shell=True", "text=True"])
    else:
        s.call(out, "subprocess.check_output", [_list(ctx, cmd), "text=True"])
    s.ret("data", f"{{{ctx.lit('ref')}: {ref}, {ctx.lit('output')}: {out}}}")
    return s


def n78_argv(ctx):
    ctx.use(ANY, "net", "run")
    ctx.imp("subprocess")
    prog, flags, arg = _cmd(ctx)
    out = ctx.ident("result")
    s = ctx.snip()
    s.maybe_guard(arg)
    s.call(out, "subprocess.run", [_list(ctx, [prog] + flags + ["--"], [arg]), "capture_output=True", "text=True",
                                   f"timeout={ctx.pick(['5', '10', '30'])}"])
    s.ret("text", f"{out}.stdout")
    return s


def n78_quoted(ctx):
    ctx.use(ANY, "build", "run")
    ctx.imp("os")
    ctx.imp("shlex")
    prog, flags, arg = _cmd(ctx)
    cv = ctx.ident("cmd")
    s = ctx.snip()
    s.add(f"{cv} = {ctx.lit(' '.join([prog] + flags) + ' ')} + shlex.quote({arg})")
    s.add(f"os.system({cv})")
    s.ret("none")
    return s


# ---------------------------------------------------------------------------------------------- CWE-94
def t94_eval(ctx):
    ctx.use(ANY, "calc", "handle")
    expr = ctx.taint("expr")
    out = ctx.ident("result")
    form = ctx.pick(["plain", "globals", "compile"])
    s = ctx.snip()
    s.maybe_guard(expr)
    s.noise()
    if ctx.mark:
        if form == "plain":
            s.add(f"{out} = eval({expr})", True)
        elif form == "globals":
            s.add(f"{out} = eval({expr}, {{{ctx.lit('__builtins__')}: {{}}}}, {{}})", True)
        else:
            co = ctx.pick(["code_obj", "compiled", "co"])
            s.add(f"{co} = compile({expr}, {ctx.lit('<' + ctx.pick(['expr', 'input', 'rule']) + '>')}, "
                  f"{ctx.lit('eval')})", True)
            s.add(f"{out} = eval({co})", True)
    else:
        ctx.imp("ast")
        s.add(f"{out} = ast.literal_eval({expr})")
    s.ret("data", out)
    return s


def t94_dispatch(ctx):
    ctx.use(ANY, "calc", "run")
    ops = ctx.pick([("str", ["upper", "lower", "title"]), ("math", ["sqrt", "floor", "ceil"]),
                    ("statistics", ["mean", "median", "stdev"])])
    ctx.imp(ops[0]) if ops[0] != "str" else None
    table = ctx.const(ctx.pick(["ACTIONS", "OPERATIONS", "HANDLERS", "FUNCS"]),
                      "{" + ", ".join(f"{ctx.lit(f)}: {ops[0]}.{f}" for f in ops[1]) + "}")
    name = ctx.taint("expr")
    val = ctx.taint("query")
    fv = ctx.pick(["fn", "func", "op", "handler"])
    out = ctx.ident("result")
    ctx.reserve(fv)
    s = ctx.snip()
    s.maybe_guard(name)
    if ctx.mark:
        s.add(f"{fv} = eval({ctx.fmt([ops[0] + '.', E(name)])})", True)
    else:
        s.add(f"{fv} = {table}.get({name})")
        s.guard(f"{fv} is None")
    arg = val if ops[0] == "str" else f"float({val})" if ops[0] == "math" else f"[float(v) for v in {val}.split({ctx.lit(',')})]"
    s.add(f"{out} = {fv}({arg})")
    s.ret("data", out)
    return s


def t94_exec(ctx):
    ctx.use(ANY, "state", "write")
    key = ctx.taint("name")
    val = ctx.taint("expr")
    ns = ctx.pick(["settings", "namespace", "options", "overrides"])
    ctx.reserve(ns)
    sep = ctx.chance(0.5)
    sv = ctx.pick(["stmt", "line", "src"])
    ctx.reserve(sv)
    s = ctx.snip()
    s.add(f"{ns} = {{}}")
    s.maybe_guard(key)
    if ctx.mark:
        stmt = ctx.fmt([E(key), " = ", E(val)])
        if sep:
            s.add(f"{sv} = {stmt}", True)
            s.add(f"exec({sv}, {{}}, {ns})", True)
        else:
            s.add(f"exec({stmt}, {{}}, {ns})", True)
    else:
        ctx.imp("json")
        s.add(f"{ns}[{key}] = json.loads({val})")
    s.ret("data", ns)
    return s


def t94_jinja(ctx):
    fw = ctx.use(ANY, "page", "render")
    name = ctx.taint("name")
    text = ctx.pick(["Hello ", "Welcome back, ", "Dear ", "Thanks, ", "Hi "])
    api = ctx.pick(["Template", "Template", "env"])
    html = ctx.ident("html")
    s = ctx.snip()
    s.maybe_guard(name)
    s.noise()
    if api == "Template":
        ctx.imp("jinja2", "Template")
        mk = "Template"
    else:
        ctx.imp("jinja2", "Environment")
        mk = ctx.const(ctx.pick(["env", "jinja_env", "templates"]), "Environment(autoescape=True)") + ".from_string"
    tag = ctx.pick(["h1", "p", "div", "span"])
    ae = ", autoescape=True" if mk == "Template" else ""
    if ctx.mark:
        src = ctx.fmt([f"<{tag}>{text}", E(name), f"</{tag}>"])
        s.add(f"{html} = {mk}({src}{ae}).render()", True)
    else:
        s.add(f"{html} = {mk}({ctx.lit(f'<{tag}>{text}{{{{ {name} }}}}</{tag}>')}{ae}).render({name}={name})")
    s.ret("html" if fw not in ("lib", "method", "worker", "socket", "cli") else "text", html)
    return s


def t94_user_template(ctx):
    fw = ctx.use(("flask", "flask", "django", "fastapi", "aiohttp", "lib", "method", "worker"), "page", "render")
    tpl = ctx.taint("template")
    who = ctx.taint("name")
    html = ctx.ident("html")
    s = ctx.snip()
    s.maybe_guard(tpl)
    if fw == "flask":
        ctx.imp("flask", "render_template_string")
        if ctx.mark:
            s.ret("raw", lines=[(f"return render_template_string({tpl}, {ctx.pick(['name', 'user', 'who'])}={who})", True)])
        else:
            s.ret("raw", lines=[(f"return render_template_string({ctx.lit('<p>{{ text }}</p><p>{{ who }}</p>')}, "
                                 f"text={tpl}, who={who})", False)])
        return s
    if fw == "django":
        ctx.imp("django.template", "engines")
        if ctx.mark:
            s.add(f"{html} = engines[{ctx.lit('django')}].from_string({tpl}).render({{{ctx.lit('who')}: {who}}})", True)
        else:
            s.add(f"{html} = engines[{ctx.lit('django')}].from_string({ctx.lit('<p>{{ text }}</p><p>{{ who }}</p>')})"
                  f".render({{{ctx.lit('text')}: {tpl}, {ctx.lit('who')}: {who}}})")
        s.ret("html", html)
        return s
    ctx.imp("jinja2", "Template")
    if ctx.mark:
        s.add(f"{html} = Template({tpl}, autoescape=True).render(who={who})", True)
    else:
        s.add(f"{html} = Template({ctx.lit('<p>{{ text }}</p><p>{{ who }}</p>')}, autoescape=True).render(text={tpl}, who={who})")
    s.ret("html" if fw in WEB else "text", html)
    return s


def n94_literal(ctx):
    ctx.use(ANY, "calc", "handle")
    ctx.imp("ast")
    expr = ctx.taint("expr")
    out = ctx.ident("result")
    s = ctx.snip()
    s.maybe_guard(expr)
    with s.maybe_try("(ValueError, SyntaxError)"):
        s.add(f"{out} = ast.literal_eval({expr})")
    s.ret("data", out)
    return s


def n94_fixed_template(ctx):
    fw = ctx.use(("flask", "flask", "lib", "method", "fastapi", "worker"), "page", "render")
    name = ctx.taint("name")
    src = f"<h1>{ctx.pick(['Hello', 'Welcome', 'Hi'])} {{{{ {name} }}}}</h1>"
    if fw == "flask" and ctx.chance(0.7):
        ctx.imp("flask", "render_template_string")
        s = ctx.snip()
        s.ret("raw", lines=[(f"return render_template_string({ctx.lit(src)}, {name}={name})", False)])
        return s
    ctx.imp("jinja2", "Template")
    html = ctx.ident("html")
    s = ctx.snip()
    s.add(f"{html} = Template({ctx.lit(src)}, autoescape=True).render({name}={name})")
    s.ret("html" if fw in WEB else "text", html)
    return s


def n94_eval_const(ctx):
    ctx.use(LOCAL + CLI + ("worker",), "calc", "run")
    vals = ctx.taint("query")
    out = ctx.ident("result")
    s = ctx.snip()
    expr = ctx.pick(["sum(values) / len(values)", "max(values) - min(values)", "sorted(values)[len(values) // 2]"])
    s.add(f"values = [float(v) for v in {vals}.split({ctx.lit(',')})]")
    s.add(f"{out} = eval({ctx.lit(expr)}, {{{ctx.lit('__builtins__')}: {{}}}}, "
          f"{{{ctx.lit('values')}: values, {ctx.lit('sum')}: sum, {ctx.lit('len')}: len, {ctx.lit('max')}: max, "
          f"{ctx.lit('min')}: min, {ctx.lit('sorted')}: sorted}})")
    s.ret("data", out)
    return s


PAIRS = [
    ("CWE-22", "cwe22/open-join", t22_open, 40),
    ("CWE-22", "cwe22/pathlib", t22_pathlib, 36),
    ("CWE-22", "cwe22/serve-file", t22_serve, 34),
    ("CWE-22", "cwe22/write-upload", t22_write, 36),
    ("CWE-22", "cwe22/archive", t22_archive, 34),
    ("CWE-78", "cwe78/os-system", t78_system, 38),
    ("CWE-78", "cwe78/shell-true", t78_shell, 44),
    ("CWE-78", "cwe78/os-popen", t78_popen, 34),
    ("CWE-78", "cwe78/asyncio-shell", t78_async, 32),
    ("CWE-78", "cwe78/file-list", t78_files, 32),
    ("CWE-94", "cwe94/eval", t94_eval, 44),
    ("CWE-94", "cwe94/eval-dispatch", t94_dispatch, 34),
    ("CWE-94", "cwe94/exec-assign", t94_exec, 34),
    ("CWE-94", "cwe94/jinja-fstring", t94_jinja, 36),
    ("CWE-94", "cwe94/user-template", t94_user_template, 34),
]

NEGS = [
    ("cwe22/hn-fixed-name", n22_fixed, 15),
    ("cwe22/hn-generated-name", n22_generated, 15),
    ("cwe22/hn-allowlist", n22_allowlist, 15),
    ("cwe78/hn-fixed-command", n78_fixed, 15),
    ("cwe78/hn-argv", n78_argv, 15),
    ("cwe78/hn-quoted", n78_quoted, 15),
    ("cwe94/hn-literal-eval", n94_literal, 15),
    ("cwe94/hn-fixed-template", n94_fixed_template, 15),
    ("cwe94/hn-eval-constant", n94_eval_const, 15),
]


def generate(rng: random.Random) -> list[dict]:
    return generate_from_tables(rng, PAIRS, NEGS)
