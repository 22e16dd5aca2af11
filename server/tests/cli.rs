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

/// Starts `command` (the server, or a shell that execs it) open on 127.0.0.1:0 with `data`;
/// answers the process and its base URL.
#[cfg(unix)]
fn start_open(mut command: Command, data: &std::path::Path) -> (std::process::Child, String) {
    let mut child = command
        .args(["--open", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("EDGESKETCH_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    (child, base)
}

/// A file-size limit (`ulimit -f`) fails the write that passes it: the server answers 503
/// `store_unavailable` and lives on (SIGXFSZ ended it, silently, with exit status 153), and the
/// envelopes it acknowledged are there after a restart without the limit.
#[cfg(unix)]
#[tokio::test]
async fn a_file_size_limit_answers_503_and_the_server_lives_on() {
    use edgesketch::{Recorder, ReplicaId};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 4 MiB (dash counts 512-byte blocks).
    let mut limited = Command::new("sh");
    limited
        .arg("-c")
        .arg("ulimit -f 8192 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_edgesketch-server"));
    let (mut child, base) = start_open(limited, &data);
    let client = reqwest::Client::new();
    let mut recorder = Recorder::with_replica(ReplicaId([7; 16]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut acknowledged = 0u64;
    let mut refused = None;
    // Each envelope brings four new dense HyperLogLogs (about 50 KB to store).
    for n in 0..400u64 {
        for k in 0..4u64 {
            let h = recorder.hyperloglog(&format!("h{n}-{k}"), 14).unwrap();
            for i in 0..20_000u64 {
                h.insert(&((n * 4 + k) << 32 | i).to_le_bytes());
            }
        }
        recorder.counter("sent").unwrap().increment(1);
        let bytes = recorder.envelope(now).unwrap().unwrap().bytes;
        let answer = client
            .post(format!("{base}/v1/ingest"))
            .body(bytes)
            .send()
            .await
            .expect("the server answers (it was killed by SIGXFSZ)");
        let status = answer.status().as_u16();
        let body: serde_json::Value =
            serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
        match status {
            200 => acknowledged += 1,
            503 => {
                refused = Some(body["code"].as_str().unwrap().to_string());
                break;
            }
            _ => panic!("{status}: {body}"),
        }
    }
    assert_eq!(
        refused.as_deref(),
        Some("store_unavailable"),
        "{acknowledged} acknowledged and no refusal"
    );
    assert!(acknowledged > 0);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    let live = client.get(format!("{base}/livez")).send().await.unwrap();
    assert_eq!(live.status().as_u16(), 200);
    let _ = child.kill();
    let _ = child.wait();

    // Without the limit, every acknowledged envelope is there.
    let (mut child, base) = start_open(server(), &data);
    let counter: serde_json::Value = serde_json::from_slice(
        &client
            .get(format!("{base}/v1/counter?key=sent"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // The refused envelope may have been written before the write that failed (SQLite cannot
    // tell): at least what was acknowledged, at most one more.
    let value = counter["value"].as_u64().unwrap();
    assert!(
        value == acknowledged || value == acknowledged + 1,
        "{value} stored, {acknowledged} acknowledged"
    );
}
