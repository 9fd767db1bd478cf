//! Common sense of the shipped model, through the real binary (`hunkguard check`): classes of code that an
//! earlier model got wrong on real commits. Each class is a generator of at least three varied examples
//! (names, values, surrounding code), so a test passes for the pattern rather than for one string.
//!
//! Quiet classes must yield no finding at all; found classes must yield the expected CWE on the line that
//! holds the flaw.

mod common;

use common::{describe, hunkguard, json_stdout};

/// What the model must say about every example of a class.
enum Expect {
    /// No finding in the file.
    Silent,
    /// A finding of this CWE whose lines cover the (1-based) line holding `marker`.
    Found {
        cwe: &'static str,
        marker: &'static str,
    },
}

/// A class of code: a name, what is expected, and its generated examples.
struct Class {
    name: &'static str,
    expect: Expect,
    examples: Vec<String>,
}

/// A dict literal of model names and their context sizes, as in a model registry.
fn model_size_tables() -> Class {
    let tables = [
        (
            "MODEL_CONTEXT",
            "vendor",
            &[
                ("model-name-4-6", 200000),
                ("model-lite-3", 128000),
                ("model-pro-2", 1000000),
            ][..],
        ),
        (
            "TOKEN_LIMITS",
            "acme",
            &[("chat-large-1106", 16385), ("chat-small-0613", 4096)][..],
        ),
        (
            "max_tokens_by_model",
            "labs",
            &[
                ("encoder-base-v2", 512),
                ("encoder-xl-v1", 8192),
                ("coder-7b", 32768),
                ("coder-34b", 16384),
            ][..],
        ),
    ];
    let examples = tables
        .iter()
        .map(|(var, vendor, entries)| {
            let mut code = format!("{var} = {{\n");
            for (name, size) in *entries {
                code.push_str(&format!("    '{vendor}/{name}': {size},\n"));
            }
            code.push_str("}\n\n\n");
            code.push_str(&format!(
                "def context_size(model):\n    return {var}.get(model, 4096)\n"
            ));
            code
        })
        .collect();
    Class {
        name: "a dict of model names and sizes",
        expect: Expect::Silent,
        examples,
    }
}

/// Small arithmetic helpers with numbered names.
fn small_arithmetic() -> Class {
    let cases = [
        ("handler_1126", "value * 1126"),
        ("scale_42", "(x + 42) / 2"),
        ("offset_7", "n - 7 if n > 7 else 0"),
    ];
    let examples = cases
        .iter()
        .map(|(name, expr)| {
            let arg = if expr.contains("value") { "value" } else if expr.contains('x') { "x" } else { "n" };
            format!("def {name}({arg}):\n    return {expr}\n\n\ndef total(items):\n    return sum({name}(i) for i in items)\n")
        })
        .collect();
    Class {
        name: "small arithmetic functions",
        expect: Expect::Silent,
        examples,
    }
}

/// yaml.dump writing data, next to yaml.safe_load reading it.
fn yaml_dump_and_safe_load() -> Class {
    let cases = [
        ("settings", "config.yml"),
        ("state", "state.yaml"),
        ("inventory", "hosts.yml"),
    ];
    let examples = cases
        .iter()
        .map(|(what, file)| {
            format!(
                "import yaml\n\n\ndef save_{what}(data, path='{file}'):\n    with open(path, 'w') as fh:\n        yaml.dump(data, fh, default_flow_style=False)\n\n\ndef load_{what}(path='{file}'):\n    with open(path) as fh:\n        return yaml.safe_load(fh)\n"
            )
        })
        .collect();
    Class {
        name: "yaml.dump next to yaml.safe_load",
        expect: Expect::Silent,
        examples,
    }
}

/// configparser reading an ini file.
fn configparser_reads() -> Class {
    let cases = [
        ("database", "host"),
        ("server", "port"),
        ("logging", "level"),
    ];
    let examples = cases
        .iter()
        .map(|(section, key)| {
            format!(
                "import configparser\n\n\ndef read_{section}_{key}(path):\n    parser = configparser.ConfigParser()\n    parser.read(path)\n    return parser.get('{section}', '{key}', fallback=None)\n"
            )
        })
        .collect();
    Class {
        name: "configparser",
        expect: Expect::Silent,
        examples,
    }
}

/// An argv joined with shlex.quote for display or logging.
fn shlex_quoted_argv() -> Class {
    let cases = [
        ("command", "args", "log.info"),
        ("exe", "argv", "print"),
        ("tool", "options", "logger.debug"),
    ];
    let examples = cases
        .iter()
        .map(|(cmd, args, sink)| {
            format!(
                "import shlex\nimport logging\n\nlog = logger = logging.getLogger(__name__)\n\n\ndef describe_call({cmd}, {args}):\n    line = ' '.join(shlex.quote(part) for part in [{cmd}] + list({args}))\n    {sink}('running %s', line)\n    return line\n"
            )
        })
        .collect();
    Class {
        name: "shlex.quote-joined argv",
        expect: Expect::Silent,
        examples,
    }
}

/// re.compile of a constant pattern.
fn constant_regexes() -> Class {
    let cases = [
        ("VERSION_RE", r#"r"^(\d+)\.(\d+)\.(\d+)$""#, "version"),
        ("SLUG_RE", r#"r"[^a-z0-9-]+""#, "slug"),
        ("EMAIL_RE", r#"r"^[\w.+-]+@[\w-]+\.[\w.]+$""#, "email"),
    ];
    let examples = cases
        .iter()
        .map(|(var, pattern, what)| {
            format!(
                "import re\n\n{var} = re.compile({pattern})\n\n\ndef is_{what}(text):\n    return {var}.match(text) is not None\n"
            )
        })
        .collect();
    Class {
        name: "re.compile of a constant pattern",
        expect: Expect::Silent,
        examples,
    }
}

/// eval of a command-line option.
fn eval_of_cli_option() -> Class {
    let cases = [
        ("part_size", "optparse", "options"),
        ("threshold", "argparse", "args"),
        ("limit", "argparse", "opts"),
    ];
    let examples = cases
        .iter()
        .map(|(opt, module, var)| {
            let parse = if *module == "optparse" {
                format!("    parser = optparse.OptionParser()\n    parser.add_option('--{opt}')\n    {var}, _ = parser.parse_args(argv)\n")
            } else {
                format!("    parser = argparse.ArgumentParser()\n    parser.add_argument('--{opt}')\n    {var} = parser.parse_args(argv)\n")
            };
            format!("import {module}\n\n\ndef main(argv):\n{parse}    value = eval({var}.{opt})\n    return value\n")
        })
        .collect();
    Class {
        name: "eval of a CLI option",
        expect: Expect::Found {
            cwe: "CWE-94",
            marker: "eval(",
        },
        examples,
    }
}

/// shell=True with request data.
fn shell_with_request_data() -> Class {
    let cases = [
        ("convert", "name", "request.args.get('name')"),
        ("ping -c 1", "host", "request.form['host']"),
        ("tar xzf", "archive", "request.values.get('archive')"),
    ];
    let examples = cases
        .iter()
        .map(|(cmd, var, source)| {
            format!(
                "import subprocess\nfrom flask import request\n\n\ndef run_tool():\n    {var} = {source}\n    subprocess.call('{cmd} ' + {var}, shell=True)\n    return 'ok'\n"
            )
        })
        .collect();
    Class {
        name: "shell=True with request data",
        expect: Expect::Found {
            cwe: "CWE-78",
            marker: "shell=True",
        },
        examples,
    }
}

/// pickle.loads of a cookie.
fn pickle_of_a_cookie() -> Class {
    let cases = [
        (
            "session",
            "request.cookies.get('session')",
            "base64.b64decode",
        ),
        (
            "prefs",
            "request.COOKIES['prefs']",
            "base64.urlsafe_b64decode",
        ),
        ("cart", "self.request.get_cookie('cart')", "bytes.fromhex"),
    ];
    let examples = cases
        .iter()
        .map(|(name, source, decode)| {
            format!(
                "import base64\nimport pickle\n\n\ndef load_{name}(request):\n    raw = {source}\n    data = pickle.loads({decode}(raw))\n    return data\n"
            )
        })
        .collect();
    Class {
        name: "pickle.loads of a cookie",
        expect: Expect::Found {
            cwe: "CWE-502",
            marker: "pickle.loads",
        },
        examples,
    }
}

/// An Alembic migration's header: revision ids are random hex, not credentials.
fn migration_revision_ids() -> Class {
    let cases = [
        (
            "588d7cfb9a41",
            "None",
            "add_column('package', sa.Column('plugin_data', sa.JSON()))",
        ),
        (
            "ec5fe422e27c",
            "'472e6d713047'",
            "create_index('ix_member_role', 'member', ['role'])",
        ),
        (
            "3b1f0e9d2c7a",
            "('9a1c44e0b2d3', 'f00dcafe1234')",
            "drop_column('mailinglist', 'info')",
        ),
    ];
    let examples = cases
        .iter()
        .enumerate()
        .map(|(i, (revision, down, step))| {
            let header = if i == 1 {
                format!("revision: str = '{revision}'\ndown_revision: Union[str, None] = {down}\n")
            } else {
                format!("revision = '{revision}'\ndown_revision = {down}\nbranch_labels = None\n")
            };
            format!(
                "\"\"\"migration {i}\"\"\"\nfrom typing import Union\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n{header}\n\ndef upgrade():\n    op.{step}\n"
            )
        })
        .collect();
    Class {
        name: "an Alembic revision header",
        expect: Expect::Silent,
        examples,
    }
}

/// A web framework's secret key written into the code.
fn hard_coded_secret_key() -> Class {
    let examples = vec![
        "from flask import Flask\n\napp = Flask(__name__)\napp.config['SECRET_KEY'] = 'thisismysecretkey'\n".to_string(),
        "import os\n\nBASE_DIR = os.path.dirname(__file__)\nSECRET_KEY = 'django-insecure-7h2k$w9q!x3m0p@v5r8t'\nDEBUG = False\n".to_string(),
        "class Config:\n    SQLALCHEMY_TRACK_MODIFICATIONS = False\n    SECRET_KEY = \"dev-harbor-secret-key\"\n    MAIL_PORT = 587\n".to_string(),
    ];
    Class {
        name: "a hard-coded framework secret key",
        expect: Expect::Found {
            cwe: "CWE-798",
            marker: "SECRET_KEY",
        },
        examples,
    }
}

/// Examples the shipped model still gets wrong, by class name and example index, as the model card says. The
/// test fails when this list is not exactly what the model does, so a model that fixes one (or breaks another)
/// must update it on purpose.
// Models 0.8.0 and 0.9.0 get the first nine classes right, 0.10.0 all but one table (0.3.0 got four wrong:
// the three `yaml.dump` examples read on their own in their definition, CWE-502 at 0.95, and one table of
// model sizes, CWE-798 at 0.67).
// The last two classes come from 0.4.0's quiet-set reading and its misses on held-out packages: it takes
// random-looking strings for credentials and word-like ones for harmless, so it read two revision ids as
// CWE-798 and missed two secret keys written as words; 0.8.0 and 0.9.0 read the second revision header right.
// 0.10.0 reads the second table of model sizes (`TOKEN_LIMITS`, a name with "TOKEN" in it) as CWE-798 at 0.53
// on its window: a regression against 0.9.0, kept for its held-out gains (training/README.md).
const KNOWN_WRONG: &[(&str, usize)] = &[
    ("a dict of model names and sizes", 1),
    ("an Alembic revision header", 0),
    ("a hard-coded framework secret key", 0),
    ("a hard-coded framework secret key", 2),
];

fn classes() -> Vec<Class> {
    vec![
        model_size_tables(),
        small_arithmetic(),
        yaml_dump_and_safe_load(),
        configparser_reads(),
        shlex_quoted_argv(),
        constant_regexes(),
        eval_of_cli_option(),
        shell_with_request_data(),
        pickle_of_a_cookie(),
        migration_revision_ids(),
        hard_coded_secret_key(),
    ]
}

#[test]
fn every_class_has_at_least_three_distinct_examples() {
    for class in classes() {
        let mut unique = class.examples.clone();
        unique.sort();
        unique.dedup();
        assert!(
            unique.len() >= 3,
            "{}: {} distinct examples",
            class.name,
            unique.len()
        );
    }
}

#[test]
fn the_shipped_model_is_quiet_on_ordinary_code_and_finds_the_plain_flaws() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut expected = Vec::new();
    for (ci, class) in classes().into_iter().enumerate() {
        for (ei, code) in class.examples.iter().enumerate() {
            let file = format!("c{ci}_e{ei}.py");
            std::fs::write(dir.path().join(&file), code).expect("write");
            expected.push((
                file,
                class.name,
                ei,
                code.clone(),
                match class.expect {
                    Expect::Silent => None,
                    Expect::Found { cwe, marker } => Some((cwe, marker)),
                },
            ));
        }
    }
    let output = hunkguard(dir.path())
        .args(["check", ".", "--format", "json", "--fail-on", "never"])
        .output()
        .expect("hunkguard runs");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report = json_stdout(&output);
    let findings = report["findings"]
        .as_array()
        .expect("findings array")
        .clone();
    let mut failures = Vec::new();
    let mut wrong = Vec::new();
    for (file, class, index, code, expect) in &expected {
        let before = failures.len();
        let here: Vec<&serde_json::Value> = findings
            .iter()
            .filter(|f| {
                f["path"]
                    .as_str()
                    .is_some_and(|p| p.trim_start_matches("./") == file)
            })
            .collect();
        match expect {
            None => {
                if !here.is_empty() {
                    let what: Vec<String> = here
                        .iter()
                        .map(|f| {
                            format!(
                                "{} line {} ({})",
                                f["cwe"], f["start_line"], f["confidence"]
                            )
                        })
                        .collect();
                    failures.push(format!(
                        "{class} ({file}): expected nothing, got {what:?}\n{code}"
                    ));
                }
            }
            Some((cwe, marker)) => {
                let line = code
                    .lines()
                    .position(|l| l.contains(marker))
                    .map(|i| i as u64 + 1)
                    .expect("marker in example");
                let hit = here.iter().any(|f| {
                    f["cwe"] == *cwe
                        && f["start_line"].as_u64().is_some_and(|s| s <= line)
                        && f["end_line"].as_u64().is_some_and(|e| e >= line)
                });
                if !hit {
                    let what: Vec<String> = here
                        .iter()
                        .map(|f| {
                            format!("{} lines {}-{}", f["cwe"], f["start_line"], f["end_line"])
                        })
                        .collect();
                    failures.push(format!(
                        "{class} ({file}): expected {cwe} on line {line}, got {what:?}\n{code}"
                    ));
                }
            }
        }
        if failures.len() > before {
            wrong.push((*class, *index));
        }
    }
    let unexpected: Vec<&String> = failures
        .iter()
        .zip(&wrong)
        .filter(|(_, w)| !KNOWN_WRONG.contains(w))
        .map(|(f, _)| f)
        .collect();
    let now_right: Vec<&(&str, usize)> =
        KNOWN_WRONG.iter().filter(|k| !wrong.contains(k)).collect();
    assert!(
        unexpected.is_empty() && now_right.is_empty(),
        "{} of {} examples wrong beyond the known ones:\n\n{}\n\nknown failures now right (update KNOWN_WRONG and the card): {now_right:?}",
        unexpected.len(),
        expected.len(),
        unexpected.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n")
    );
    assert!(
        KNOWN_WRONG.len() * 5 <= expected.len(),
        "the model is wrong on too many common-sense examples"
    );
}
