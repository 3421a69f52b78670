//! Support for harnesses that run apps on local-infra, kept out of the runtime crate's public
//! API: a real `redis-server` of their own on a free loopback port, password-protected,
//! stopped when dropped; and building a workspace package into a component.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RedisServerError {
    #[error(
        "cannot start redis-server (is it installed? scripts/ensure-tools.sh installs it): {0}"
    )]
    Spawn(std::io::Error),
    #[error("redis-server on port {0} did not answer PING within 10 s")]
    NotReady(u16),
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
}

pub fn free_port() -> Result<u16, std::io::Error> {
    TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}

/// A `redis-server` that requires a password of its own (`--requirepass`), as production's
/// Redis does: every suite runs authenticated, and one that dropped the password from an
/// address would fail instead of passing against an open server.
pub struct RedisServer {
    pub port: u16,
    password: String,
    child: Option<Child>,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Result<Self, RedisServerError> {
        Self::start_on(free_port().map_err(RedisServerError::Port)?)
    }

    /// Starts on a given port, with a fresh password ([`restart`](Self::restart) keeps both).
    pub fn start_on(port: u16) -> Result<Self, RedisServerError> {
        let dir =
            std::env::temp_dir().join(format!("wasmshop-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(RedisServerError::Spawn)?;
        let mut server = Self {
            port,
            password: random_password().map_err(RedisServerError::Spawn)?,
            child: None,
            dir,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), RedisServerError> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--requirepass", &self.password])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(RedisServerError::Spawn)?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Starts the server again on its port after [`stop`](Self::stop) (its data is gone: no
    /// persistence, as pub/sub needs none).
    pub fn restart(&mut self) -> Result<(), RedisServerError> {
        self.stop();
        self.spawn()
    }

    /// The address with its password, as `redis_address` takes it.
    pub fn url(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}", self.password, self.port)
    }

    /// The address without the password: what a client that does not authenticate uses.
    pub fn url_without_password(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url())?.get_connection()
    }

    fn wait_ready(&self) -> Result<(), RedisServerError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut conn) = self.connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(RedisServerError::NotReady(self.port))
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// 32 hex digits from the OS's randomness: URL-safe, so it goes into an address as it is.
fn random_password() -> Result<String, std::io::Error> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Builds a workspace package for `wasm32-wasip2` (release, into `<root>/target/wasm` so it
/// does not contend with the native test build) and returns its component: how the test
/// fixtures are made from source.
pub fn build_wasm_package(workspace_root: &Path, package: &str) -> anyhow::Result<PathBuf> {
    let target_dir = workspace_root.join("target/wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "-p",
            package,
            "--release",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(workspace_root)
        .status()?;
    anyhow::ensure!(status.success(), "building the component {package} failed");
    Ok(target_dir.join(format!(
        "wasm32-wasip2/release/{}.wasm",
        package.replace('-', "_")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every harness runs on this server: were the password not required, a suite whose
    /// addresses had lost it would still pass.
    #[test]
    fn the_test_redis_refuses_a_client_without_its_password() {
        let server = RedisServer::start().expect("redis-server starts");
        let refused = redis::Client::open(server.url_without_password())
            .and_then(|client| client.get_connection())
            .and_then(|mut anonymous| redis::cmd("PING").query::<String>(&mut anonymous))
            .expect_err("a client without the password is refused");
        assert_eq!(refused.code(), Some("NOAUTH"), "{refused}");

        let mut authenticated = server.connection().expect("connects with the password");
        let pong: String = redis::cmd("PING").query(&mut authenticated).expect("PING");
        assert_eq!(pong, "PONG");

        let other = RedisServer::start().expect("a second redis-server starts");
        assert_ne!(server.password, other.password, "a password per server");
    }
}
