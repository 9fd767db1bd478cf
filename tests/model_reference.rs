//! The Rust runtime reproduces the scores that Python ONNX Runtime wrote at export time.
//!
//! `models/reference_scores.json` holds, for a few fixture snippets, the token ids our tokenizer must
//! produce and the model's outputs for them; tokenization, windowing and ORT must all agree.

mod common;

use hunkguard::catalogue::Catalogue;
use hunkguard::model::{Device, Model, RuntimeOptions};

const TOLERANCE: f32 = 1e-4;

fn runtime() -> RuntimeOptions {
    RuntimeOptions {
        ort_lib: std::env::var_os("ORT_DYLIB_PATH")
            .map(Into::into)
            .or_else(|| Some(common::crate_root().join(".ort"))),
        device: Device::Cpu,
        threads: Some(1),
        ..RuntimeOptions::default()
    }
}

#[test]
fn rust_inference_matches_the_reference_scores_written_at_export() {
    let dir = common::model_dir();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference_scores.json")).unwrap())
            .unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 3, "the export writes several fixtures");
    let mut model = Model::load(&dir, &runtime(), &Catalogue::embedded()).unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let code = case["code"].as_str().unwrap();
        let ids = model.encode(code).unwrap();
        let expected_ids: Vec<i64> = case["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        // The reference ids include [CLS] and [SEP]; ours are the body.
        assert_eq!(
            &expected_ids[1..expected_ids.len() - 1],
            &ids[..],
            "{name}: token ids differ"
        );
        let (seq, tokens) = model.run_window(&ids).unwrap();
        let expected_seq = case["seq_probs"].as_array().unwrap();
        assert_eq!(seq.len(), expected_seq.len(), "{name}: label count");
        for (i, (got, want)) in seq.iter().zip(expected_seq).enumerate() {
            let want = want.as_f64().unwrap() as f32;
            assert!(
                (got - want).abs() <= TOLERANCE,
                "{name}: seq_probs[{i}] = {got}, reference {want}"
            );
        }
        let expected_tokens = case["token_probs"].as_array().unwrap();
        assert_eq!(tokens.len(), expected_tokens.len(), "{name}: token count");
        for (t, (row, want_row)) in tokens.iter().zip(expected_tokens).enumerate() {
            for (c, (got, want)) in row.iter().zip(want_row.as_array().unwrap()).enumerate() {
                let want = want.as_f64().unwrap() as f32;
                assert!(
                    (got - want).abs() <= TOLERANCE,
                    "{name}: token_probs[{t}][{c}] = {got}, reference {want}"
                );
            }
        }
    }
}

#[test]
fn long_snippets_are_windowed_and_every_line_gets_scores() {
    use hunkguard::hunks::Snippet;
    let mut model = Model::load(&common::model_dir(), &runtime(), &Catalogue::embedded()).unwrap();
    let labels = model.manifest.labels.len();
    let lines: Vec<String> = (0..400)
        .map(|i| format!("value_{i} = compute({i}, 'x' * {i})"))
        .collect();
    let snippet = Snippet {
        file: 0,
        text: lines.join("\n"),
        line_numbers: (1..=400).collect(),
        changed: vec![true; 400],
    };
    let scores = model.score(std::slice::from_ref(&snippet)).unwrap();
    assert_eq!(scores[0].token.len(), 400);
    assert!(scores[0].token.iter().all(|row| row.len() == labels));
    // The last line is past the first window: it is still scored (a window reached it).
    assert!(scores[0].window[399].iter().any(|p| *p > 0.0));
    // Scoring is deterministic.
    let again = model.score(std::slice::from_ref(&snippet)).unwrap();
    assert_eq!(scores, again);
}
