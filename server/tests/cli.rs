//! The binary's command line as operators use it: flags and their `EDGESKETCH_*` variables.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Duration;

const TENANTS: &str = r#"
[[tenants]]
name = "acme"
[[tenants.tokens]]
label = "edge workers"
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
scopes = ["write"]
"#;

fn server() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgesketch-server"))
}

/// `EDGESKETCH_OPEN=0` (or `off`) means not open, so it goes with a tenants file: clap counted
/// any value of the variable as the flag given and refused `--tenants` beside it. Logs written to
/// a pipe carry no colour codes.
#[test]
fn a_false_open_variable_goes_with_a_tenants_file() {
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants.toml");
    std::fs::write(&tenants, TENANTS).unwrap();
    for value in ["0", "off", "false"] {
        let mut child = server()
            .args(["--listen", "127.0.0.1:0", "--tenants"])
            .arg(&tenants)
            .arg("--data-dir")
            .arg(dir.path().join(format!("data-{value}")))
            .env("EDGESKETCH_OPEN", value)
            .env("EDGESKETCH_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let mut log = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert!(
            line.starts_with("listening on http://127.0.0.1:"),
            "EDGESKETCH_OPEN={value}: {line:?} {log}"
        );
        assert!(log.contains("INFO"), "{log}");
        assert!(
            !log.contains('\u{1b}'),
            "colour codes in a piped log: {log:?}"
        );
    }
}

/// `--open` with `--tenants` is refused with a reason and exit code 1, before anything starts.
#[test]
fn open_and_tenants_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants.toml");
    std::fs::write(&tenants, TENANTS).unwrap();
    for open in [vec!["--open"], vec![]] {
        let mut command = server();
        command
            .args(["--listen", "127.0.0.1:0", "--tenants"])
            .arg(&tenants)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(&open);
        if open.is_empty() {
            command.env("EDGESKETCH_OPEN", "yes");
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "still running");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(
            err.contains("--open and --tenants exclude each other"),
            "{err}"
        );
        assert!(!dir.path().join("data").exists(), "nothing was created");
    }
}
