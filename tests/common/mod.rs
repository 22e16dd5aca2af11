//! Helpers shared by the integration tests: deterministic item streams, a reference register
//! model, and a throwaway `redis-server` on 127.0.0.1.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edgesketch::hash::hash_item;

/// The items of test stream `seed`: `n` distinct strings.
pub fn items(seed: u64, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("s{seed}:user-{i}")).collect()
}

/// Registers computed the obvious way, straight from Redis's definition: index = low `p` bits of
/// the hash, rank = 1 + trailing zeros of `hash >> p` with bit `64 - p` forced.
pub fn reference_registers<'a>(p: u8, items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut regs = vec![0u8; 1 << p];
    for item in items {
        let h = hash_item(item);
        let index = (h & ((1 << p) - 1)) as usize;
        let rank = (((h >> p) | (1u64 << (64 - p))).trailing_zeros() + 1) as u8;
        regs[index] = regs[index].max(rank);
    }
    regs
}

/// A `redis-server` child process on a free 127.0.0.1 port, without persistence; killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// Starts one, failing loudly (never skipping) when Redis is not installed.
    pub fn start() -> RedisServer {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        for attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("no free 127.0.0.1 port")
                .port();
            let child = Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "yes",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match child {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot run `{binary}` ({e}). The Redis oracle tests need a real Redis: \
                     install it with `sudo apt-get install -y redis-server` (bash .ci/run does), \
                     or point REDIS_SERVER at a redis-server binary."
                ),
            };
            let mut server = RedisServer { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(mut con) = server.try_connect() {
                    if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                        return server;
                    }
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // port taken between our probe and its bind: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("redis-server on port {port} did not come up (attempt {attempt})");
        }
        panic!("redis-server did not start on 127.0.0.1");
    }

    fn try_connect(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?.get_connection()
    }

    pub fn connect(&self) -> redis::Connection {
        self.try_connect().expect("connect to redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
