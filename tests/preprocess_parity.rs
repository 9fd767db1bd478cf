//! The runtime preprocesses code exactly as training does: the same comment/docstring stripping and
//! the same token-to-line map, on the fixture set the Python tests read too
//! (`training/tests/test_preprocess_parity.py`).

use hunkguard::hunks::{strip::strip_lines, token_lines};

fn cases() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/preprocess/cases.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn stripping_matches_the_shared_fixture() {
    let cases = cases();
    let cases = cases["strip"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let lines: Vec<&str> = case["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let expected: Vec<Option<String>> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().map(str::to_string))
            .collect();
        assert_eq!(strip_lines(&lines), expected, "case {}", case["name"]);
    }
}

#[test]
fn token_lines_match_the_shared_fixture() {
    let cases = cases();
    for case in cases["token_lines"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        // the fixture holds character offsets (Python's); the Rust tokenizer gives byte offsets
        let byte_at = |chars: u64| {
            text.char_indices()
                .nth(chars as usize)
                .map_or(text.len(), |(i, _)| i)
        };
        let offsets: Vec<(usize, usize)> = case["offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    byte_at(o[0].as_u64().unwrap()),
                    byte_at(o[1].as_u64().unwrap()),
                )
            })
            .collect();
        let expected: Vec<Option<usize>> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_u64().map(|l| l as usize))
            .collect();
        assert_eq!(token_lines(text, &offsets), expected, "{text:?}");
    }
}

#[test]
fn the_shipped_tokenizer_maps_every_token_of_a_line_to_it() {
    // the real tokenizer's offsets on stripped code: no token lands on a line it does not touch
    let tokenizer = tokenizers::Tokenizer::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/tokenizer.json"
    ))
    .unwrap();
    let text = "def handler(req):\n    host = req.args[\"h\"]\n\n    os.system(\"ping \" + host)";
    let encoding = tokenizer.encode(text, false).unwrap();
    let lines = token_lines(text, encoding.get_offsets());
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    for ((start, end), line) in encoding.get_offsets().iter().zip(&lines) {
        let token = &text[*start..*end];
        match line {
            None => assert!(token.trim().is_empty(), "{token:?}"),
            Some(line) => {
                let first = start + token.find(|c: char| !c.is_whitespace()).unwrap();
                assert!(starts[*line] <= first && starts.get(line + 1).is_none_or(|s| first < *s));
            }
        }
    }
    assert!(
        lines.contains(&Some(3)) && !lines.contains(&Some(2)),
        "{lines:?}"
    );
}
