//! `sanshi matching solve` through the real binary: a round trip, and bad
//! input answered with a message and exit code 2.

use std::process::Command;

fn solve(input: &str) -> (Option<i32>, String, Option<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let (input_path, output_path) = (dir.path().join("instance.json"), dir.path().join("assignment.json"));
    std::fs::write(&input_path, input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sanshi"))
        .args(["matching", "solve", "--input"])
        .arg(&input_path)
        .arg("--output")
        .arg(&output_path)
        .output()
        .unwrap();
    let written = std::fs::read_to_string(&output_path)
        .ok()
        .map(|s| serde_json::from_str(&s).unwrap());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        written,
    )
}

#[test]
fn solves_an_instance_and_writes_the_assignment() {
    // Two communities 1 km apart in 渝中区; the only planner can take one, the
    // engineer both: coverage first puts one professional in each, then the
    // shorter total distance decides which.
    let instance = r#"{
      "communities": [
        {"id": "500103003013", "lon": 106.5770, "lat": 29.5570, "demand": 2},
        {"id": "500103003016", "lon": 106.5873, "lat": 29.5570, "demand": 2}
      ],
      "professionals": [
        {"id": "planner-1", "lon": 106.5770, "lat": 29.5575, "capacity": 1, "profession": "planner"},
        {"id": "engineer-1", "lon": 106.5873, "lat": 29.5575, "capacity": 2, "profession": "engineer"}
      ],
      "max_distance_km": 5
    }"#;
    let (code, stderr, written) = solve(instance);
    assert_eq!(code, Some(0), "{stderr}");
    let out = written.expect("an assignment file");
    assert_eq!(out["covered"], 2);
    let pairs = out["pairs"].as_array().unwrap();
    let pair = |c: &str, p: &str| pairs.iter().any(|x| x["community"] == c && x["professional"] == p);
    // Both communities covered, the planner at its nearest, the engineer at both.
    assert!(pair("500103003013", "planner-1"));
    assert!(pair("500103003013", "engineer-1") && pair("500103003016", "engineer-1"));
    assert_eq!(pairs.len(), 3);
    let total: f64 = pairs.iter().map(|x| x["distance_km"].as_f64().unwrap()).sum();
    assert!((out["total_distance_km"].as_f64().unwrap() - total).abs() < 1e-6);
}

#[test]
fn bad_input_is_exit_code_2_with_a_message() {
    for (input, expected) in [
        (
            r#"{"communities": [], "professionals": [], "max_distance_km": 5, "extra": 1}"#,
            "extra",
        ),
        (
            r#"{"communities": [], "professionals": [{"id": "p", "lon": 106.5, "lat": 29.5, "capacity": -1, "profession": "planner"}], "max_distance_km": 5}"#,
            "professionals[0].capacity",
        ),
        (
            r#"{"communities": [{"id": "c", "lon": 106.5, "lat": 29.5, "demand": 1}, {"id": "c", "lon": 106.6, "lat": 29.5, "demand": 1}], "professionals": [], "max_distance_km": 5}"#,
            "communities[1].id",
        ),
        (
            r#"{"communities": [{"id": "c", "lon": NaN, "lat": 29.5, "demand": 1}], "professionals": [], "max_distance_km": 5}"#,
            "NaN",
        ),
    ] {
        let (code, stderr, written) = solve(input);
        assert_eq!(code, Some(2), "{input}: {stderr}");
        assert!(stderr.contains(expected), "{input}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(written.is_none());
    }
}
