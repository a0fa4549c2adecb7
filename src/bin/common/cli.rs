//! The command line of the Lambda binaries. Inside Lambda they take no arguments and serve
//! the Runtime API at `AWS_LAMBDA_RUNTIME_API`; anywhere else lambda_runtime would panic
//! for want of it, so a binary started by hand prints its usage instead.

use std::process::ExitCode;

/// What the binary was started to do.
pub enum Start {
    /// Serve Lambda events.
    Lambda,
    /// The binary's own flag (the janitor's `--dry-run`), outside Lambda.
    Flag,
    /// Usage or version printed, or a bad command line: exit with this code.
    Exit(ExitCode),
}

/// Read the command line. `flag` is the one extra flag the binary accepts, if any; `usage`
/// is its help text (printed for `-h`/`--help`, and to stderr for anything it does not accept).
pub fn start(name: &str, usage: &str, flag: Option<&str>) -> Start {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => Start::Lambda,
        [] => {
            eprintln!("{name}: not running inside Lambda (AWS_LAMBDA_RUNTIME_API is not set)\n");
            eprint!("{usage}");
            Start::Exit(ExitCode::from(2))
        }
        ["-h" | "--help"] => {
            print!("{usage}");
            Start::Exit(ExitCode::SUCCESS)
        }
        ["-V" | "--version"] => {
            println!("{name} {}", env!("CARGO_PKG_VERSION"));
            Start::Exit(ExitCode::SUCCESS)
        }
        [a] if Some(a) == flag => Start::Flag,
        _ => {
            eprintln!("{name}: unexpected arguments: {}\n", args.join(" "));
            eprint!("{usage}");
            Start::Exit(ExitCode::from(2))
        }
    }
}
