//! The Lambda binaries outside Lambda: `--help` prints usage, and a start without the
//! Runtime API is a short message and exit code 2, never a panic with a backtrace.

use std::process::{Command, Output};

const BINS: [(&str, &str); 3] = [
    ("viewer-request", env!("CARGO_BIN_EXE_viewer-request")),
    ("origin-response", env!("CARGO_BIN_EXE_origin-response")),
    ("janitor", env!("CARGO_BIN_EXE_janitor")),
];

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).env_remove("AWS_LAMBDA_RUNTIME_API").env("RUST_BACKTRACE", "1").output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_prints_usage() {
    for (name, bin) in BINS {
        for flag in ["--help", "-h"] {
            let out = run(bin, &[flag]);
            assert_eq!(out.status.code(), Some(0), "{name} {flag}: {}", text(&out.stderr));
            let usage = text(&out.stdout);
            assert!(usage.starts_with(&format!("{name}: ")) && usage.contains("Usage:"), "{name}: {usage}");
            assert!(out.stderr.is_empty(), "{name}: {}", text(&out.stderr));
        }
        let v = run(bin, &["--version"]);
        assert_eq!((v.status.code(), text(&v.stdout)), (Some(0), format!("{name} {}\n", env!("CARGO_PKG_VERSION"))));
    }
    assert!(text(&run(BINS[2].1, &["--help"]).stdout).contains("--dry-run"));
}

#[test]
fn outside_lambda_is_a_usage_error_not_a_panic() {
    for (name, bin) in BINS {
        for args in [&[][..], &["--bogus"][..], &["--dry-run", "extra"][..]] {
            let out = run(bin, args);
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {err}");
            assert!(!err.contains("panicked") && !err.contains("backtrace"), "{name} {args:?}: {err}");
            assert!(err.contains("Usage:") && out.stdout.is_empty(), "{name} {args:?}: {err}");
        }
    }
    // Flags of one binary are not another's.
    assert_eq!(run(BINS[0].1, &["--dry-run"]).status.code(), Some(2));
}
