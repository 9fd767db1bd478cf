"""The labelling rules that turn Bandit findings on the corpus into line labels, and the corpus split."""
from hunkguard_train import corpus as C
from hunkguard_train.data import advisory_record_to_example, is_lookalike, realfix_record_to_example
from hunkguard_train.distil import LABEL_BUDGET_STEPS, Verdict, budget_steps, decide, file_chunks, labelled_files, labelled_union
from hunkguard_train.labels import Catalogue

CAT = Catalogue()


def d(test_id, line, around="", func="f", severity="MEDIUM", confidence="HIGH") -> Verdict:
    return decide(test_id, severity, confidence, line, around, func)


def test_high_signal_findings_are_positive_and_low_confidence_ones_are_masked():
    assert d("B602", "subprocess.call('convert ' + name, shell=True)", severity="HIGH").label == "CWE-78"
    assert d("B608", "cur.execute('SELECT * FROM t WHERE id = %s' % i)", confidence="LOW").decision == "masked"
    assert d("B506", "yaml.load(fh)").label == "CWE-502"


def test_a_shell_command_bandit_itself_calls_literal_is_safe():
    assert d("B602", "subprocess.call('ls -l', shell=True)", severity="LOW").decision == "safe"


def test_eval_of_a_constant_is_safe_and_eval_of_data_is_code_injection():
    assert d("B307", "x = eval('1 + 2')").decision == "safe"
    assert d("B307", "x = eval(options.part_size)").label == "CWE-94"


def test_random_is_a_weakness_only_for_secrets():
    assert d("B311", "token = ''.join(random.choice(chars) for _ in range(32))", severity="LOW").label == "CWE-338"
    assert d("B311", "time.sleep(random.uniform(0, 1) * backoff)", severity="LOW").decision == "safe"
    assert d("B311", "x = random.randint(0, 9)", func="make_reset_code", severity="LOW").label == "CWE-338"
    assert d("B311", "random.shuffle(servers)", around="session = connect()", severity="LOW").decision == "safe"


def test_md5_for_a_password_is_a_weakness_and_for_a_cache_key_is_not():
    assert d("B324", "return hashlib.md5(password.encode()).hexdigest()", severity="HIGH").label == "CWE-327"
    assert d("B324", "key = hashlib.md5(url.encode()).hexdigest()", func="cache_key", severity="HIGH").decision == "safe"
    assert d("B324", "hashlib.md5(data, usedforsecurity=False)", func="sign", severity="HIGH").decision == "safe"


def test_hard_coded_strings_are_credentials_only_when_they_look_like_one():
    assert d("B105", 'password = "hunter2xyz"', severity="LOW").label == "CWE-798"
    assert d("B106", 'connect(user="admin", password="changeme")', severity="LOW").label == "CWE-798"
    for line in ('TOKEN_TYPE = "access_token"', 'password = ""', 'secret = "{secret}"', 'token = "Bearer"',
                 'password_field = "password"', 'token_url = "https://example.org/token"'):
        assert d("B105", line, severity="LOW").decision == "safe", line


def test_a_string_that_names_a_thing_is_not_a_credential():
    # read in the held-out ground: environment variable and action names, setting keys, template paths, rate
    # limits and documentation placeholders held by secret-named variables
    for line in ("'solr_password': 'CKAN_SOLR_PASSWORD',", "CHANGE_PASSWORD = 'changePassword'",
                 '_config_encode_secret = u"api_token.jwt.encode.secret"',
                 'PASSWORD_RESET_TEMPLATE = "account/password_reset"', "'token_owner': 'subscription',",
                 '"password_recovery_request": "12/hour",', 'access_token="your_access_token",',
                 "password='my_password'", 'consumer_secret="cs_...",'):
        assert d("B105", line, severity="LOW").decision == "safe", line
    # while a secret stays a secret, whatever its shape, and a shipped "change me" default is a weak default
    for line in ('SECRET_KEY = "thisismyscretkey"', 'AUTH_LDAP_BIND_PASSWORD = "password1"',
                 '"password": "Letm3in_",', 'CHANGE_ME_SECRET_KEY = "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET"'):
        assert d("B105", line, severity="LOW").label == "CWE-798", line


def test_code_quality_and_import_checks_teach_nothing():
    for tid in ("B101", "B110", "B404", "B603"):
        assert d(tid, "assert x").decision == "ignored"


def test_file_chunks_cover_functions_methods_and_module_statements():
    src = "import os\nX = 1\nY = 2\n\n\nclass A:\n    def m(self):\n        a = 1\n        return a\n\n\ndef f():\n    b = 2\n    return b\n"
    spans = file_chunks(src)
    assert (7, 9) in spans and (12, 14) in spans and (1, 3) in spans


def test_labelled_files_are_a_stable_capped_sample_without_tests():
    files = [C.SourceFile("p", f"m{i}.py", "x = 1\n" * 100, False) for i in range(50)]
    files.append(C.SourceFile("p", "tests/test_a.py", "x = 1\n", True))
    a = labelled_files(files, max_lines=1000)
    assert a == labelled_files(list(reversed(files)), max_lines=1000)
    assert sum(f.text.count("\n") + 1 for f in a) <= 1000 and not any(f.is_test for f in a)


def test_a_larger_budget_only_adds_files_so_earlier_bandit_reports_stay_valid():
    files = [C.SourceFile("p", f"m{i}.py", "x = 1\n" * (37 * (i % 7) + 5), False) for i in range(400)]
    steps = budget_steps(files)
    assert len(steps) == len(LABEL_BUDGET_STEPS) + 1 and steps[-1] == [], "no extension, an empty last step"
    assert steps[0] == labelled_files(files, LABEL_BUDGET_STEPS[0])
    paths = [f.path for step in steps for f in step]
    assert len(paths) == len(set(paths)), "a file labelled by two steps would get Bandit's findings twice"
    assert {f.path for f in labelled_files(files)} <= set(paths)
    assert len(labelled_union(files)) > len(steps[0])


def test_lookalikes_are_the_shapes_of_the_quiet_set_false_alarms_not_their_unsafe_twins():
    for code in ("out.write(yaml.dump(cfg))", "ctx = ssl.create_default_context()",
                 "ET.SubElement(root, 'h%d' % level)", "from xml.dom.minidom import parseString",
                 "subprocess.run(['git', 'log', ref], check=True)", "WORD = re.compile(r'[a-z]+')",
                 "m = re.findall(r'src=\"(.+?)\"></script>', page)",
                 "cur.execute('SELECT {col} FROM t WHERE id = %s'.format(col=c), (i,))"):
        assert is_lookalike(code), code
    for code in ("yaml.load(fh)", "subprocess.call('ls ' + d, shell=True)", "eval(expr)",
                 "cur.execute('SELECT * FROM t WHERE id = ' + i)", "total = sum(values)", "re.search(user_pattern, text)"):
        assert not is_lookalike(code), code


def test_package_split_is_stable_and_holds_out_about_one_in_seven():
    names = [f"pkg-{i}" for i in range(700)]
    held = sum(C.package_split(n) == "val" for n in names)
    assert 60 <= held <= 140
    assert C.package_split("Flask_SQLAlchemy") == C.package_split("flask-sqlalchemy")


def test_real_fixes_of_both_sources_are_grouped_by_repository():
    adv = {"id": "pysec:X:0:vul", "repo": "Owner/Proj", "fix_commit": "abc", "cwe": "CWE-22", "code": "def f(p):\n    return open(p)",
           "vuln_lines": [2], "pair_id": "pysec:X:0"}
    rf = {"id": "s:1:vul", "code": "def g(x):\n    run(x)", "pair_id": "p1", "cwe": "CWE-78", "vuln_lines": [2],
          "commit_link": "https://github.com/owner/proj/commit/1"}
    a, r = advisory_record_to_example(adv, CAT), realfix_record_to_example(rf, CAT)
    assert a.group == r.group == "fix:owner/proj"
    assert a.lines.labels[1] == {"CWE-22"}


def test_advisory_pairs_without_a_catalogue_label_are_dropped():
    rec = {"id": "pysec:Y:0:vul", "repo": "o/p", "fix_commit": "abc", "cwe": "other", "code": "def f():\n    pass",
           "vuln_lines": [], "pair_id": "pysec:Y:0"}
    assert advisory_record_to_example(rec, CAT) is None
