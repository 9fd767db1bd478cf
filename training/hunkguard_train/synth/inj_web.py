"""Synthetic CWE-79 (XSS), CWE-601 (open redirect), CWE-113 (header injection), CWE-117 (log injection)
and CWE-918 (SSRF) examples."""
from __future__ import annotations

import random

from .common import ANY, ASYNC, LOCAL, WEB, E, generate_from_tables

REDIRECT_FW = WEB
HEADER_FW = ("flask", "flask", "django", "fastapi", "aiohttp", "httpserver", "wsgi", "cgi")


# ---------------------------------------------------------------------------------------------- CWE-79
def _esc_fn(ctx):
    """The escaping call of the fixed twin (chosen from the shared rng, so both twins agree)."""
    how = ctx.pick(["html", "html", "markupsafe"])
    return how


def _esc(ctx, how, v):
    if how == "html":
        ctx.imp("html")
        return f"html.escape({v})"
    ctx.imp("markupsafe", "escape")
    return f"escape({v})"


def x79_fstring(ctx):
    ctx.use(WEB, "page", "read")
    ctx.reserve("html", "escape")
    v = ctx.taint(ctx.pick(["name", "text", "query"]))
    out = ctx.ident("html")
    how = _esc_fn(ctx)
    tag = ctx.pick(["h1", "p", "div", "span", "b", "h2"])
    pre = ctx.pick(["Hello, ", "Results for ", "Welcome ", "You searched for: ", "Comment: ", ""])
    inline = ctx.style.inline
    s = ctx.snip()
    s.maybe_guard(v)
    s.noise()
    val = E(v) if ctx.mark else E(_esc(ctx, how, v))
    body = ctx.fmt([f"<{tag}>{pre}", val, f"</{tag}>"])
    if inline:
        s.ret("html", body, ctx.mark)
    else:
        s.add(f"{out} = {body}", ctx.mark)
        s.ret("html", out, ctx.mark)
    return s


def x79_list(ctx):
    ctx.use(WEB, "item", "read")
    ctx.reserve("html", "escape")
    items = ctx.taint(ctx.pick(["tags", "labels", "names", "choices", "words"]), "list")
    out = ctx.ident("html")
    how = _esc_fn(ctx)
    it = ctx.pick(["t", "x", "item", "entry", "v"])
    ctx.reserve(it)
    s = ctx.snip()
    s.maybe_guard(items)
    val = E(it) if ctx.mark else E(_esc(ctx, how, it))
    li = ctx.fmt(["<li>", val, "</li>"], "f" if ctx.style.fmt == "percent" else None)
    if ctx.chance(0.5):
        s.add(f"{out} = {ctx.lit('<ul>')} + {ctx.lit('')}.join({li} for {it} in {items}) + {ctx.lit('</ul>')}", ctx.mark)
    else:
        s.add(f"{out} = {ctx.lit('<ul>')}")
        with s.block(f"for {it} in {items}:"):
            s.add(f"{out} += {li}", ctx.mark)
        s.add(f"{out} += {ctx.lit('</ul>')}")
    s.ret("html", out, ctx.mark)
    return s


def x79_markup(ctx):
    fw = ctx.use(WEB, "page", "render")
    v = ctx.taint("text")
    out = ctx.ident("html")
    tag = ctx.pick(["p", "div", "blockquote", "span"])
    cls = ctx.pick(["comment", "bio", "note", "msg", "card"])
    s = ctx.snip()
    s.maybe_guard(v)
    s.noise()
    if fw == "django":
        if ctx.mark:
            ctx.imp("django.utils.safestring", "mark_safe")
            s.add(f"{out} = mark_safe({ctx.fmt([f'<{tag} class={chr(34)}{cls}{chr(34)}>', E(v), f'</{tag}>'])})", True)
        else:
            ctx.imp("django.utils.html", "format_html")
            s.add(f"{out} = format_html({ctx.lit(f'<{tag} class={chr(34)}{cls}{chr(34)}>{{}}</{tag}>')}, {v})")
    else:
        ctx.imp("flask" if fw == "flask" else "markupsafe", "Markup")
        if ctx.mark:
            s.add(f"{out} = Markup({ctx.fmt([f'<{tag} class={chr(34)}{cls}{chr(34)}>', E(v), f'</{tag}>'])})", True)
        else:
            s.add(f"{out} = Markup({ctx.lit(f'<{tag} class={chr(34)}{cls}{chr(34)}>{{}}</{tag}>')}).format({v})")
    s.ret("html", f"str({out})", ctx.mark)
    return s


def x79_autoescape(ctx):
    fw = ctx.use(WEB, "page", "render")
    ctx.imp("jinja2", "Environment")
    ctx.imp("jinja2", "FileSystemLoader")
    envn = ctx.pick(["env", "jinja_env", "templates", "renderer"])
    tdir = ctx.lit(ctx.pick(["templates", "views", "app/templates"]))
    fixv = ctx.pick(["true", "select"])
    if ctx.mark:
        ctx.const(envn, f"Environment(loader=FileSystemLoader({tdir}), autoescape=False)", mark=True)
    elif fixv == "true":
        ctx.const(envn, f"Environment(loader=FileSystemLoader({tdir}), autoescape=True)")
    else:
        ctx.imp("jinja2", "select_autoescape")
        ctx.const(envn, f"Environment(loader=FileSystemLoader({tdir}), autoescape=select_autoescape())")
    v = ctx.taint(ctx.pick(["text", "name"]))
    out = ctx.ident("html")
    page = ctx.lit(ctx.pick(["comment.html", "profile.html", "card.html", "search.html", "message.html"]))
    s = ctx.snip()
    s.maybe_guard(v)
    s.add(f"{out} = {envn}.get_template({page}).render({v}={v})", ctx.mark)
    s.ret("html", out)
    return s


def x79_safe_filter(ctx):
    fw = ctx.use(("flask", "flask", "django", "fastapi", "aiohttp"), "page", "render")
    v = ctx.taint("text")
    out = ctx.ident("html")
    tag = ctx.pick(["div", "p", "section", "td"])
    filt = ctx.pick(["safe", "safe", "raw"]) if fw != "django" else "safe"
    if fw == "flask":
        ctx.imp("flask", "render_template_string")
        src = f"<{tag}>{{{{ {v}|safe }}}}</{tag}>" if ctx.mark else f"<{tag}>{{{{ {v} }}}}</{tag}>"
        s = ctx.snip()
        s.maybe_guard(v)
        s.ret("raw", lines=[(f"return render_template_string({ctx.lit(src)}, {v}={v})", ctx.mark)])
        return s
    s = ctx.snip()
    s.maybe_guard(v)
    if fw == "django":
        ctx.imp("django.template", "engines")
        if ctx.mark:
            src = f"<{tag}>{{{{ {v}|safe }}}}</{tag}>"
        else:
            src = f"<{tag}>{{{{ {v} }}}}</{tag}>"
        s.add(f"{out} = engines[{ctx.lit('django')}].from_string({ctx.lit(src)}).render({{{ctx.lit(v)}: {v}}})",
              ctx.mark)
    else:
        ctx.imp("jinja2", "Template")
        if ctx.mark:
            src = f"<{tag}>{{{{ {v}|safe }}}}</{tag}>" if filt == "safe" else f"<{tag}>{{% autoescape false %}}{{{{ {v} }}}}{{% endautoescape %}}</{tag}>"
        else:
            src = f"<{tag}>{{{{ {v} }}}}</{tag}>"
        s.add(f"{out} = Template({ctx.lit(src)}, autoescape=True).render({v}={v})", ctx.mark)
    s.ret("html", out)
    return s


def n79_escaped(ctx):
    ctx.use(WEB, "page", "read")
    ctx.reserve("html", "escape")
    v = ctx.taint(ctx.pick(["name", "text", "query"]))
    out = ctx.ident("html")
    how = _esc_fn(ctx)
    s = ctx.snip()
    s.add(f"{out} = {ctx.fmt(['<p>', E(_esc(ctx, how, v)), '</p>'])}")
    s.ret("html", out)
    return s


def n79_markup_const(ctx):
    fw = ctx.use(WEB, "page", "render")
    v = ctx.taint("text")
    out = ctx.ident("html")
    s = ctx.snip()
    if fw == "django":
        ctx.imp("django.utils.safestring", "mark_safe")
        ctx.imp("django.utils.html", "format_html")
        s.add(f"{out} = format_html({ctx.lit('<p>{}</p>{}')}, {v}, mark_safe({ctx.lit('<hr>')}))")
    else:
        ctx.imp("markupsafe", "Markup")
        ctx.imp("markupsafe", "escape")
        s.add(f"{out} = Markup({ctx.lit('<br>')}).join(escape(line) for line in {v}.splitlines())")
    s.ret("html", f"str({out})")
    return s


def n79_template(ctx):
    fw = ctx.use(("flask", "django", "fastapi"), "page", "render")
    v = ctx.taint("text")
    page = ctx.lit(ctx.pick(["comment.html", "profile.html", "search.html"]))
    s = ctx.snip()
    s.guard(f"not {v}")
    if fw == "flask":
        ctx.imp("flask", "render_template")
        s.ret("raw", lines=[(f"return render_template({page}, {v}={v})", False)])
    elif fw == "django":
        ctx.imp("django.shortcuts", "render")
        s.ret("raw", lines=[(f"return render(request, {page}, {{{ctx.lit(v)}: {v}}})", False)])
    else:
        ctx.imp("fastapi.responses", "JSONResponse")
        s.ret("raw", lines=[(f"return JSONResponse({{{ctx.lit(v)}: {v}}})", False)])
    return s


# ---------------------------------------------------------------------------------------------- CWE-601
def _relative_check(ctx, s, v, how):
    if how == "prefix":
        with s.block(f"if not {v}.startswith({ctx.lit('/')}) or {v}.startswith(({ctx.lit('//')}, {ctx.lit('/' + chr(92))})):"):
            s.add(f"{v} = {ctx.lit('/')}")
    elif how == "urlparse":
        ctx.imp("urllib.parse", "urlparse")
        with s.block(f"if urlparse({v}).scheme or urlparse({v}).netloc:"):
            s.add(f"{v} = {ctx.lit('/')}")
    else:
        hosts = ctx.const(ctx.alt(["ALLOWED_HOSTS", "REDIRECT_HOSTS", "KNOWN_HOSTS"]),
                          "{" + ", ".join(ctx.lit(h) for h in ctx.alt([["example.com", "www.example.com"],
                                                                        ["app.example.org"], ["shop.example.net", "example.net"]])) + "}")
        ctx.imp("urllib.parse", "urlparse")
        with s.block(f"if urlparse({v}).netloc not in {hosts} | {{{ctx.lit('')}}}:"):
            s.add(f"{v} = {ctx.lit('/')}")


def r601_next(ctx):
    fw = ctx.use(REDIRECT_FW, "auth", ctx.pick(["handle", "read"]))
    v = ctx.taint("next")
    how = ctx.pick(["prefix", "urlparse", "hosts"] + (["django"] * 2 if fw == "django" else []))
    s = ctx.snip()
    s.noise()
    if ctx.style.guard or not ctx.setup:
        with s.block(f"if not {v}:"):
            s.add(f"{v} = {ctx.lit('/')}")
    if not ctx.mark:
        if how == "django":
            ctx.imp("django.utils.http", "url_has_allowed_host_and_scheme")
            with s.block(f"if not url_has_allowed_host_and_scheme({v}, allowed_hosts={{request.get_host()}}):"):
                s.add(f"{v} = {ctx.lit('/')}")
        else:
            _relative_check(ctx, s, v, how)
    s.ret("redirect", v, ctx.mark)
    return s


def r601_login(ctx):
    fw = ctx.use(REDIRECT_FW, "auth", "handle")
    user = ctx.taint("name", where="form")
    v = ctx.taint("next", where=ctx.pick(["query", "form"]))
    how = ctx.pick(["prefix", "urlparse", "hosts"])
    svc = ctx.pick(["sessions", "auth_service", "accounts", "login_manager"])
    ctx.reserve(svc)
    s = ctx.snip()
    s.add(f"{svc}.start({user})")
    if not ctx.mark:
        _relative_check(ctx, s, v, how)
    s.ret("redirect", v, ctx.mark)
    return s


def r601_host(ctx):
    ctx.use(REDIRECT_FW, "auth", "read")
    dom = ctx.taint(ctx.pick(["domain", "tenant", "site", "region_host"]))
    tgt = ctx.ident("next")
    path = ctx.pick(["/welcome", "/dashboard", "/login", "/", "/home"])
    hosts = ctx.const(ctx.pick(["TENANT_HOSTS", "ALLOWED_DOMAINS", "SITES"]),
                      "{" + ", ".join(ctx.lit(h) for h in ctx.pick([["eu.example.com", "us.example.com"],
                                                                    ["a.example.org", "b.example.org", "c.example.org"]])) + "}")
    s = ctx.snip()
    s.maybe_guard(dom)
    if not ctx.mark:
        s.guard(f"{dom} not in {hosts}")
    s.add(f"{tgt} = {ctx.fmt(['https://', E(dom), path])}", ctx.mark)
    s.ret("redirect", tgt, ctx.mark)
    return s


def r601_referer(ctx):
    fw = ctx.use(("flask", "django", "fastapi", "aiohttp"), "auth", "delete")
    ref = ctx.pick(["ref", "back", "referer", "previous"])
    ctx.reserve(ref)
    src = {"flask": "request.referrer or {d}", "django": "request.META.get({k}, {d})",
           "fastapi": "request.headers.get({h}, {d})", "aiohttp": "request.headers.get({h}, {d})"}[fw]
    if fw == "flask":
        ctx.imp("flask", "request")
    if fw == "fastapi":
        ctx.need_request = True
    sid = ctx.taint("id")
    svc = ctx.pick(["store", "repo", "items", "registry"])
    ctx.reserve(svc)
    s = ctx.snip()
    s.add(f"{svc}.remove({sid})")
    s.add(f"{ref} = " + src.format(k=ctx.lit("HTTP_REFERER"), h=ctx.lit("Referer"), d=ctx.lit("/")))
    if not ctx.mark:
        _relative_check(ctx, s, ref, ctx.pick(["urlparse", "hosts"]))
    s.ret("redirect", ref, ctx.mark)
    return s


def n601_url_for(ctx):
    fw = ctx.use(REDIRECT_FW, "auth", "handle")
    user = ctx.taint("name")
    svc = ctx.pick(["sessions", "auth_service", "accounts"])
    ctx.reserve(svc)
    s = ctx.snip()
    s.add(f"{svc}.start({user})")
    if fw == "flask":
        ctx.imp("flask", "url_for")
        s.ret("redirect", f"url_for({ctx.lit(ctx.pick(['index', 'dashboard', 'home']))})")
    elif fw == "django":
        ctx.imp("django.urls", "reverse")
        s.ret("redirect", f"reverse({ctx.lit(ctx.pick(['index', 'dashboard', 'home']))})")
    else:
        s.ret("redirect", ctx.lit(ctx.pick(["/", "/dashboard", "/home", "/account"])))
    return s


def n601_mapped(ctx):
    ctx.use(REDIRECT_FW, "auth", "read")
    key = ctx.taint("next")
    table = ctx.const(ctx.pick(["DESTINATIONS", "LANDING_PAGES", "NEXT_PAGES"]),
                      "{" + ", ".join(f"{ctx.lit(k)}: {ctx.lit(v)}" for k, v in
                                      [("home", "/"), ("orders", "/orders"), ("profile", "/account/profile")]) + "}")
    s = ctx.snip()
    s.ret("redirect", f"{table}.get({key}, {ctx.lit('/')})")
    return s


# ---------------------------------------------------------------------------------------------- CWE-113
_HDRS = [("Content-Language", "header"), ("X-Request-Id", "header"), ("X-Theme", "header"),
         ("X-Trace-Id", "header"), ("X-Region", "header"), ("X-Client-Version", "header")]


def _strip_crlf(ctx, s, v, how):
    cr, lf = ctx.lit("\r"), ctx.lit("\n")
    if how == "replace":
        s.add(f"{v} = {v}.replace({cr}, {ctx.lit('')}).replace({lf}, {ctx.lit('')})")
    elif how == "reject":
        s.guard(f"{cr} in {v} or {lf} in {v}")
    elif how == "regex":
        ctx.imp("re")
        s.add(f"{v} = re.sub({ctx.rlit('[' + chr(92) + 'r' + chr(92) + 'n]')}, {ctx.lit('')}, {v})")
    else:
        ctx.imp("urllib.parse", "quote")
        s.add(f"{v} = quote({v}, safe={ctx.lit('')})")


def h113_echo(ctx):
    ctx.use(HEADER_FW, "item", "read")
    hname, role = ctx.pick(_HDRS)
    v = ctx.taint(role)
    how = ctx.pick(["replace", "reject", "regex", "quote"])
    s = ctx.snip()
    s.maybe_guard(v)
    s.noise()
    if not ctx.mark:
        _strip_crlf(ctx, s, v, how)
    s.ret("header", v, ctx.mark, name=hname)
    return s


def h113_disposition(ctx):
    ctx.use(HEADER_FW, "file", "read")
    v = ctx.taint("path")
    hv = ctx.pick(["disposition", "cd", "header_value"])
    ctx.reserve(hv)
    how = ctx.pick(["replace", "reject", "quote"])
    s = ctx.snip()
    s.maybe_guard(v)
    if not ctx.mark:
        _strip_crlf(ctx, s, v, how)
    s.add(f"{hv} = {ctx.fmt(['attachment; filename=' + chr(34), E(v), chr(34)])}", ctx.mark)
    s.ret("header", hv, ctx.mark, name="Content-Disposition")
    return s


def h113_cookie(ctx):
    ctx.use(("httpserver", "wsgi", "cgi", "httpserver"), "page", "write")
    v = ctx.taint(ctx.pick(["header", "name"]))
    how = ctx.pick(["replace", "reject", "regex", "quote"])
    key = ctx.pick(["theme", "lang", "pref", "last_seen", "display_name"])
    hv = ctx.pick(["cookie", "cookie_value", "set_cookie"])
    ctx.reserve(hv)
    s = ctx.snip()
    s.maybe_guard(v)
    if not ctx.mark:
        _strip_crlf(ctx, s, v, how)
    s.add(f"{hv} = {ctx.fmt([key + '=', E(v), '; Path=/'])}", ctx.mark)
    s.ret("header", hv, ctx.mark, name="Set-Cookie")
    return s


def h113_raw(ctx):
    ctx.use(("socket",), "net", "handle")
    v = ctx.taint("header")
    how = ctx.pick(["replace", "reject", "regex"])
    c = "self.request" if ctx.opt["mode"] == "server" else ctx.opt["conn"]
    hv = ctx.pick(["head", "preamble", "status_lines"])
    ctx.reserve(hv)
    s = ctx.snip()
    if not ctx.mark:
        _strip_crlf(ctx, s, v, how)
    s.add(f"{hv} = {ctx.fmt(['HTTP/1.1 200 OK' + chr(13) + chr(10) + 'X-Echo: ', E(v), chr(13) + chr(10) * 1 + chr(13) + chr(10)])}",
          ctx.mark)
    s.add(f"{c}.sendall({hv}.encode())", ctx.mark)
    return s


def n113_const(ctx):
    ctx.use(HEADER_FW, "item", "read")
    v = ctx.taint("id")
    s = ctx.snip()
    kind = ctx.pick(["uuid", "int", "map"])
    hv = ctx.pick(["rid", "header_value", "tag"])
    ctx.reserve(hv)
    if kind == "uuid":
        ctx.imp("uuid")
        s.add(f"{hv} = str(uuid.uuid4())")
        name = "X-Request-Id"
    elif kind == "int":
        s.add(f"{hv} = str(int({v}))")
        name = "X-Item-Id"
    else:
        langs = ctx.const("LANGUAGES", "{" + ", ".join(f"{ctx.lit(k)}: {ctx.lit(k)}" for k in ["en", "de", "fr"]) + "}")
        s.add(f"{hv} = {langs}.get({v}, {ctx.lit('en')})")
        name = "Content-Language"
    s.ret("header", hv, name=name)
    return s


# ---------------------------------------------------------------------------------------------- CWE-117
_LOGMSG = ["login failed for ", "password reset requested by ", "unknown user ", "search by ", "export requested: ",
           "invalid token for ", "order lookup: ", "rejected value "]


def _neutral(ctx, v, how):
    cr, lf = ctx.lit("\r"), ctx.lit("\n")
    if how == "replace":
        return f"{v}.replace({cr}, {ctx.lit('')}).replace({lf}, {ctx.lit('')})"
    if how == "escape":
        return f"{v}.replace({cr}, {ctx.lit(chr(92) + 'r')}).replace({lf}, {ctx.lit(chr(92) + 'n')})"
    ctx.imp("re")
    return f"re.sub({ctx.rlit('[' + chr(92) + 'r' + chr(92) + 'n]+')}, {ctx.lit(' ')}, {v})"


def l117_format(ctx):
    ctx.use(ANY, "log", "handle")
    v = ctx.taint(ctx.pick(["name", "query", "id", "email"]))
    lg = ctx.logger()
    lvl = ctx.pick(["info", "warning", "error", "debug"])
    msg = ctx.pick(_LOGMSG)
    how = ctx.pick(["replace", "escape", "regex"])
    sep = ctx.chance(0.4)
    s = ctx.snip()
    s.maybe_guard(v)
    if ctx.mark:
        s.add(f"{lg}.{lvl}({ctx.fmt([msg, E(v)])})", True)
    elif sep:
        s.add(f"{v} = {_neutral(ctx, v, how)}")
        s.add(f"{lg}.{lvl}({ctx.fmt([msg, E(v)])})")
    else:
        s.add(f"{lg}.{lvl}({ctx.fmt([msg, E(_neutral(ctx, v, how))])})")
    s.ret("none")
    return s


def l117_args(ctx):
    ctx.use(ANY, "log", "handle")
    v = ctx.taint(ctx.pick(["name", "query", "email"]))
    w = ctx.taint("header")
    lg = ctx.logger()
    lvl = ctx.pick(["info", "warning"])
    msg = ctx.pick(["login failed for %s (%s)", "user %s changed region to %s", "lookup %s from %s",
                    "account %s: note %s"])
    how = ctx.pick(["replace", "escape", "regex"])
    s = ctx.snip()
    s.maybe_guard(v)
    if ctx.mark:
        s.call(None, f"{lg}.{lvl}", [ctx.lit(msg), v, w], True)
    else:
        s.call(None, f"{lg}.{lvl}", [ctx.lit(msg), _neutral(ctx, v, how), _neutral(ctx, w, how)])
    s.ret("none")
    return s


def l117_file(ctx):
    ctx.use(ANY, "log", "write")
    ctx.imp("datetime")
    v = ctx.taint(ctx.pick(["name", "text", "id"]))
    path = ctx.const(ctx.pick(["AUDIT_LOG", "ACCESS_LOG", "EVENT_LOG"]),
                     ctx.lit(ctx.pick(["/var/log/app/audit.log", "audit.log", "/var/log/events.log"])))
    how = ctx.pick(["replace", "escape", "regex"])
    fh = ctx.pick(["fh", "logfile", "out_file"])
    ev = ctx.pick(["view", "update", "delete", "export"])
    ctx.reserve(fh)
    s = ctx.snip()
    val = E(v) if ctx.mark else E(_neutral(ctx, v, how))
    line = ctx.fmt([E("datetime.datetime.now().isoformat()"), f" {ev} ", val, "\n"])
    with s.block(f"with open({path}, {ctx.lit('a')}) as {fh}:"):
        s.add(f"{fh}.write({line})", ctx.mark)
    s.ret("none")
    return s


def l117_print(ctx):
    ctx.use(("cli", "worker", "socket", "lib", "wsgi", "cgi"), "log", "handle")
    ctx.imp("sys")
    v = ctx.taint(ctx.pick(["name", "text", "query"]))
    msg = ctx.pick(_LOGMSG)
    how = ctx.pick(["replace", "escape", "regex"])
    s = ctx.snip()
    s.guard(f"not {v}")
    val = E(v) if ctx.mark else E(_neutral(ctx, v, how))
    s.add(f"print({ctx.fmt([msg, val])}, file=sys.stderr)", ctx.mark)
    s.ret("none")
    return s


def n117_safe(ctx):
    ctx.use(ANY, "log", "handle")
    v = ctx.taint(ctx.pick(["name", "query", "id"]))
    lg = ctx.logger()
    kind = ctx.pick(["repr", "len", "const", "int"])
    s = ctx.snip()
    if kind == "repr":
        s.add(f"{lg}.info({ctx.lit('lookup for %r')}, {v})")
    elif kind == "len":
        s.add(f"{lg}.info({ctx.lit('received %d characters')}, len({v}))")
    elif kind == "int":
        s.add(f"{lg}.info({ctx.lit('record %d requested')}, int({v}))")
    else:
        s.add(f"{lg}.warning({ctx.lit(ctx.pick(['lookup failed', 'request rejected', 'empty result']))})")
    s.ret("none")
    return s


# ---------------------------------------------------------------------------------------------- CWE-918
_HOSTS = [["api.github.com", "gitlab.com"], ["images.example.com", "cdn.example.com"],
          ["hooks.slack.com"], ["feeds.example.org", "news.example.org"], ["partner.example.net"]]


def _host_check(ctx, s, v, scheme):
    ctx.imp("urllib.parse", "urlparse")
    hosts = ctx.const(ctx.alt(["ALLOWED_HOSTS", "FETCH_HOSTS", "PERMITTED_HOSTS", "UPSTREAMS"]),
                      "{" + ", ".join(ctx.lit(h) for h in ctx.alt(_HOSTS)) + "}")
    pv = ctx.alt(["parsed", "parts", "u"])
    s.add(f"{pv} = urlparse({v})")
    cond = f"{pv}.hostname not in {hosts}"
    if scheme:
        cond = f"{pv}.scheme != {ctx.lit('https')} or " + cond
    s.guard(cond, 403)


def s918_requests(ctx):
    ctx.use(ANY, "url", "read")
    v = ctx.taint("url")
    lib = ctx.pick(["requests", "requests", "httpx"])
    ctx.imp(lib)
    rv = ctx.ident("resp")
    meth = ctx.pick(["get", "get", "head", "post"])
    scheme = ctx.chance(0.5)
    extra = ctx.pick(["", f", timeout={ctx.pick(['5', '10', '3'])}"])
    s = ctx.snip()
    s.maybe_guard(v)
    s.noise()
    if not ctx.mark:
        _host_check(ctx, s, v, scheme)
    with s.maybe_try(f"{lib}.RequestError" if lib == "httpx" else "requests.RequestException", 400):
        s.add(f"{rv} = {lib}.{meth}({v}{extra})", ctx.mark)
    s.ret("data", f"{rv}.status_code" if meth == "head" else f"{rv}.text")
    return s


def s918_urlopen(ctx):
    ctx.use(ANY, "url", "read")
    ctx.imp("urllib.request")
    v = ctx.taint("url")
    rv = ctx.ident("resp")
    out = ctx.ident("data")
    scheme = ctx.chance(0.5)
    s = ctx.snip()
    s.maybe_guard(v)
    if not ctx.mark:
        _host_check(ctx, s, v, scheme)
    with s.block(f"with urllib.request.urlopen({v}, timeout={ctx.pick(['5', '10'])}) as {rv}:", ctx.mark):
        s.add(f"{out} = {rv}.read()")
    s.ret("data", f"len({out})")
    return s


def s918_host(ctx):
    ctx.use(ANY, "net", "read")
    lib = ctx.pick(["requests", "httpx"])
    ctx.imp(lib)
    v = ctx.taint("host")
    uv = ctx.ident("url")
    rv = ctx.ident("resp")
    path = ctx.pick(["/health", "/status", "/api/v1/info", "/metrics", ":8080/ping"])
    hosts = ctx.const(ctx.pick(["NODES", "KNOWN_NODES", "SERVICE_HOSTS"]),
                      "{" + ", ".join(ctx.lit(h) for h in ctx.pick([["node1.internal.example", "node2.internal.example"],
                                                                    ["db.example.com", "cache.example.com"]])) + "}")
    s = ctx.snip()
    s.maybe_guard(v)
    if not ctx.mark:
        s.guard(f"{v} not in {hosts}", 403)
    s.add(f"{uv} = {ctx.fmt(['http://', E(v), path])}", ctx.mark)
    s.add(f"{rv} = {lib}.get({uv}, timeout=5)", ctx.mark)
    s.ret("data", f"{rv}.status_code")
    return s


def s918_async(ctx):
    ctx.use(ASYNC, "url", "read")
    ctx.need_async = True
    ctx.imp("httpx")
    v = ctx.taint("url")
    rv = ctx.ident("resp")
    cl = ctx.pick(["client", "http", "session"])
    ctx.reserve(cl)
    scheme = ctx.chance(0.5)
    s = ctx.snip()
    s.maybe_guard(v)
    if not ctx.mark:
        _host_check(ctx, s, v, scheme)
    with s.block(f"async with httpx.AsyncClient() as {cl}:"):
        s.add(f"{rv} = await {cl}.get({v})", ctx.mark)
    s.ret("data", f"{rv}.json()")
    return s


def s918_webhook(ctx):
    ctx.use(ANY, "url", "write")
    ctx.imp("requests")
    v = ctx.taint("url")
    ev = ctx.taint("text")
    scheme = ctx.chance(0.5)
    rv = ctx.ident("resp")
    s = ctx.snip()
    s.maybe_guard(v)
    if not ctx.mark:
        _host_check(ctx, s, v, scheme)
    s.call(rv, "requests.post", [v, f"json={{{ctx.lit('event')}: {ev}}}", "timeout=10"], ctx.mark)
    s.ret("data", f"{rv}.ok")
    return s


def n918_fixed(ctx):
    ctx.use(ANY, "url", "read")
    lib = ctx.pick(["requests", "httpx"])
    ctx.imp(lib)
    q = ctx.taint(ctx.pick(["query", "id"]))
    base = ctx.const(ctx.pick(["API_URL", "SEARCH_URL", "UPSTREAM_URL"]),
                     ctx.lit(ctx.pick(["https://api.example.com/v2/search", "https://search.example.org/q",
                                       "https://partner.example.net/api/items"])))
    rv = ctx.ident("resp")
    s = ctx.snip()
    s.add(f"{rv} = {lib}.get({base}, params={{{ctx.lit('q')}: {q}}}, timeout=5)")
    s.ret("data", f"{rv}.json()")
    return s


def n918_int_path(ctx):
    ctx.use(ANY, "item", "read")
    ctx.imp("requests")
    iid = ctx.taint("id")
    base = ctx.const(ctx.pick(["API_BASE", "BACKEND_URL"]), ctx.lit(ctx.pick(["https://api.example.com", "https://inventory.example.org"])))
    rv = ctx.ident("resp")
    s = ctx.snip()
    s.add(f"{rv} = requests.get({ctx.fmt([E(base), '/items/', E(f'int({iid})')])}, timeout=5)")
    s.ret("data", f"{rv}.json()")
    return s


PAIRS = [
    ("CWE-79", "cwe79/html-format", x79_fstring, 40),
    ("CWE-79", "cwe79/html-list", x79_list, 34),
    ("CWE-79", "cwe79/markup", x79_markup, 36),
    ("CWE-79", "cwe79/autoescape-off", x79_autoescape, 34),
    ("CWE-79", "cwe79/safe-filter", x79_safe_filter, 36),
    ("CWE-601", "cwe601/next-param", r601_next, 50),
    ("CWE-601", "cwe601/after-login", r601_login, 44),
    ("CWE-601", "cwe601/host-concat", r601_host, 44),
    ("CWE-601", "cwe601/referer", r601_referer, 42),
    ("CWE-113", "cwe113/echo-header", h113_echo, 54),
    ("CWE-113", "cwe113/disposition", h113_disposition, 48),
    ("CWE-113", "cwe113/cookie", h113_cookie, 42),
    ("CWE-113", "cwe113/raw-socket", h113_raw, 36),
    ("CWE-117", "cwe117/format", l117_format, 50),
    ("CWE-117", "cwe117/args", l117_args, 44),
    ("CWE-117", "cwe117/file", l117_file, 44),
    ("CWE-117", "cwe117/print", l117_print, 42),
    ("CWE-918", "cwe918/requests", s918_requests, 44),
    ("CWE-918", "cwe918/urlopen", s918_urlopen, 36),
    ("CWE-918", "cwe918/host", s918_host, 36),
    ("CWE-918", "cwe918/async", s918_async, 32),
    ("CWE-918", "cwe918/webhook", s918_webhook, 34),
]

NEGS = [
    ("cwe79/hn-escaped", n79_escaped, 15),
    ("cwe79/hn-markup-const", n79_markup_const, 15),
    ("cwe79/hn-template", n79_template, 15),
    ("cwe601/hn-url-for", n601_url_for, 22),
    ("cwe601/hn-mapped", n601_mapped, 22),
    ("cwe113/hn-header", n113_const, 40),
    ("cwe117/hn-log", n117_safe, 40),
    ("cwe918/hn-fixed-url", n918_fixed, 22),
    ("cwe918/hn-int-path", n918_int_path, 22),
]


def generate(rng: random.Random) -> list[dict]:
    return generate_from_tables(rng, PAIRS, NEGS)
