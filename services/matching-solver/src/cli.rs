//! `sanshi matching solve --input FILE --output FILE`: reads an [`Instance`] as JSON, writes the
//! optimal [`Solution`](crate::Solution) as JSON.

use std::io::Write;
use std::path::Path;

use crate::instance::{Instance, InvalidInstance};

/// Exit code: solved and written.
pub const EXIT_OK: i32 = 0;
/// Exit code: the input or output file could not be read or written.
pub const EXIT_IO: i32 = 1;
/// Exit code: the input is not a valid instance.
pub const EXIT_INVALID: i32 = 2;

/// Runs the command, reporting failures as one line on stderr. Returns the exit code:
/// [`EXIT_OK`], [`EXIT_INVALID`] for bad input, [`EXIT_IO`] for I/O errors.
pub fn run(input: &Path, output: &Path) -> i32 {
    run_with(input, output, &mut std::io::stderr())
}

/// [`run`] with the error stream given (for tests).
pub fn run_with(input: &Path, output: &Path, stderr: &mut dyn Write) -> i32 {
    let mut fail = |code: i32, message: String| {
        // Nothing sensible is left to do if stderr itself fails.
        let _ = writeln!(stderr, "sanshi matching solve: {message}");
        code
    };
    let text = match std::fs::read_to_string(input) {
        Ok(text) => text,
        Err(e) => return fail(EXIT_IO, format!("cannot read {}: {e}", input.display())),
    };
    let instance = match Instance::from_json(&text) {
        Ok(instance) => instance,
        Err(e @ InvalidInstance::Syntax { .. }) => {
            return fail(EXIT_INVALID, format!("{}: invalid JSON at {e}", input.display()));
        }
        Err(e) => return fail(EXIT_INVALID, format!("{}: invalid instance: {e}", input.display())),
    };
    let solution = match crate::solve(&instance) {
        Ok(assignment) => assignment.to_solution(&instance),
        Err(e) => return fail(EXIT_INVALID, format!("{}: invalid instance: {e}", input.display())),
    };
    let mut json = match serde_json::to_vec_pretty(&solution) {
        Ok(json) => json,
        Err(e) => return fail(EXIT_IO, format!("cannot encode the solution: {e}")),
    };
    json.push(b'\n');
    match std::fs::write(output, json) {
        Ok(()) => EXIT_OK,
        Err(e) => fail(EXIT_IO, format!("cannot write {}: {e}", output.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Solution;

    fn run_captured(input: &Path, output: &Path) -> (i32, String) {
        let mut err = Vec::new();
        let code = run_with(input, output, &mut err);
        (code, String::from_utf8(err).unwrap())
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.json");
        let output = dir.path().join("out.json");
        // 0.01° of longitude at 29.5°N ≈ 968 m.
        std::fs::write(
            &input,
            r#"{
              "communities": [
                {"id": "500103003013", "lon": 106.57, "lat": 29.5, "demand": 2, "region": "500103003013"},
                {"id": "500103003014", "lon": 106.58, "lat": 29.5, "demand": 1},
                {"id": "far", "lon": 108.0, "lat": 29.5, "demand": 1}
              ],
              "professionals": [
                {"id": "wang", "lon": 106.57, "lat": 29.5, "capacity": 3, "profession": "planner"},
                {"id": "li", "lon": 106.575, "lat": 29.5, "capacity": 1, "profession": "engineer",
                 "service_regions": ["500103"]}
              ],
              "max_distance_km": 3
            }"#,
        )
        .unwrap();
        let (code, err) = run_captured(&input, &output);
        assert_eq!((code, err.as_str()), (EXIT_OK, ""));
        let solution: Solution = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
        assert_eq!(solution.covered, 2);
        assert_eq!(solution.covered_professions, 3);
        assert_eq!(solution.assigned, 3);
        let pairs: Vec<(&str, &str)> = solution
            .pairs
            .iter()
            .map(|p| (p.community.as_str(), p.professional.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("500103003013", "wang"),
                ("500103003013", "li"),
                ("500103003014", "wang")
            ]
        );
        let total: f64 = solution.pairs.iter().map(|p| p.distance_km).sum();
        assert!((total - solution.total_distance_km).abs() < 1e-9);
        assert!(
            (solution.total_distance_km - 0.484 - 0.968).abs() < 0.01,
            "{}",
            solution.total_distance_km
        );
    }

    #[test]
    fn existing_professions_count_as_covered() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.json");
        let output = dir.path().join("out.json");
        std::fs::write(
            &input,
            r#"{
              "communities": [
                {"id": "has-planner", "lon": 106.57, "lat": 29.5, "demand": 1, "existing_professions": ["planner"]},
                {"id": "uncovered", "lon": 106.59, "lat": 29.5, "demand": 1}
              ],
              "professionals": [{"id": "wang", "lon": 106.575, "lat": 29.5, "capacity": 1, "profession": "planner"}],
              "max_distance_km": 3
            }"#,
        )
        .unwrap();
        let (code, err) = run_captured(&input, &output);
        assert_eq!((code, err.as_str()), (EXIT_OK, ""));
        let solution: Solution = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
        // The nearer community already has a planner: wang covers the other one.
        assert_eq!(solution.pairs.len(), 1);
        assert_eq!(solution.pairs[0].community, "uncovered");
        assert_eq!(
            (solution.covered, solution.covered_professions, solution.assigned),
            (2, 2, 1)
        );
    }

    #[test]
    fn bad_input_exits_2_with_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.json");
        let output = dir.path().join("out.json");
        std::fs::write(
            &input,
            r#"{"communities": [{"id": "c", "lon": 0, "lat": 0, "demand": -1}], "professionals": [],
                "max_distance_km": 3}"#,
        )
        .unwrap();
        let (code, err) = run_captured(&input, &output);
        assert_eq!(code, EXIT_INVALID);
        assert!(
            err.ends_with("invalid instance: communities[0].demand: must be non-negative\n"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        assert!(!output.exists());

        std::fs::write(&input, "{\n  \"communities\": [\n    NaN\n  ]\n}").unwrap();
        let (code, err) = run_captured(&input, &output);
        assert_eq!(code, EXIT_INVALID);
        assert!(err.contains("invalid JSON at line 3, column 5"), "{err}");
        assert!(err.contains("NaN and Infinity are not JSON numbers"), "{err}");
        assert_eq!(err.lines().count(), 1);
    }

    #[test]
    fn io_errors_exit_1() {
        let dir = tempfile::tempdir().unwrap();
        let (code, err) = run_captured(&dir.path().join("missing.json"), &dir.path().join("out.json"));
        assert_eq!(code, EXIT_IO);
        assert!(err.contains("cannot read"), "{err}");
        let input = dir.path().join("in.json");
        std::fs::write(
            &input,
            r#"{"communities": [], "professionals": [], "max_distance_km": 1}"#,
        )
        .unwrap();
        let (code, err) = run_captured(&input, &dir.path().join("no/such/dir/out.json"));
        assert_eq!(code, EXIT_IO);
        assert!(err.contains("cannot write"), "{err}");
    }
}
