//! A real headless Chromium for dashboard tests, driven through the dashboard's own driver
//! (`services/gateway/dashboard/e2e/driver.mjs`, playwright-core): one JSON command per line in,
//! one JSON answer per line out.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// Why a browser command failed.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// The driver could not be started or talked to.
    #[error("browser driver: {0}")]
    Io(#[from] std::io::Error),
    /// The driver answered with an error (a failed navigation, a wait that timed out …).
    #[error("browser command failed: {0}")]
    Command(String),
    /// The driver's answer was not what the protocol says.
    #[error("browser driver protocol: {0}")]
    Protocol(String),
}

/// A running browser.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl Browser {
    /// Starts the driver (and so Chromium).
    pub async fn launch(driver: &Path) -> Result<Browser, BrowserError> {
        let mut child = tokio::process::Command::new("node")
            .arg(driver)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| BrowserError::Protocol("no stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BrowserError::Protocol("no stdout".into()))?;
        Ok(Browser {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            next_id: 1,
        })
    }

    /// Sends one command (`{"cmd": …, …}`) and returns its `value`.
    pub async fn command(&mut self, mut cmd: Value) -> Result<Value, BrowserError> {
        let id = self.next_id;
        self.next_id += 1;
        cmd["id"] = json!(id);
        let timeout = cmd["timeout_ms"].as_u64().unwrap_or(30_000) + 30_000;
        self.stdin.write_all(format!("{cmd}\n").as_bytes()).await?;
        self.stdin.flush().await?;
        let line = tokio::time::timeout(Duration::from_millis(timeout), self.lines.next_line())
            .await
            .map_err(|_| BrowserError::Protocol(format!("no answer to {cmd}")))??
            .ok_or_else(|| BrowserError::Protocol("the driver exited".into()))?;
        let answer: Value = serde_json::from_str(&line)
            .map_err(|e| BrowserError::Protocol(format!("{e}: {line}")))?;
        if answer["id"] != json!(id) {
            return Err(BrowserError::Protocol(format!(
                "answer to another command: {line}"
            )));
        }
        if answer["ok"] == json!(true) {
            Ok(answer["value"].clone())
        } else {
            Err(BrowserError::Command(answer["error"].to_string()))
        }
    }

    /// Opens `url`.
    pub async fn goto(&mut self, url: &str) -> Result<Value, BrowserError> {
        self.command(json!({"cmd": "goto", "url": url, "timeout_ms": 30_000}))
            .await
    }

    /// Evaluates a JavaScript expression in the page.
    pub async fn eval(&mut self, expr: &str) -> Result<Value, BrowserError> {
        self.command(json!({"cmd": "eval", "expr": expr})).await
    }

    /// Waits until `expr` is truthy in the page (polled by the driver); returns its value.
    pub async fn wait(&mut self, expr: &str, within: Duration) -> Result<Value, BrowserError> {
        let ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX);
        self.command(json!({"cmd": "wait", "expr": expr, "timeout_ms": ms}))
            .await
    }

    /// Saves a full-page screenshot.
    pub async fn screenshot(&mut self, path: &Path) -> Result<(), BrowserError> {
        self.command(json!({"cmd": "screenshot", "path": path, "full_page": true}))
            .await
            .map(|_| ())
    }

    /// Console and page errors so far.
    pub async fn errors(&mut self) -> Result<Vec<Value>, BrowserError> {
        Ok(self
            .command(json!({"cmd": "errors"}))
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Closes the browser.
    pub async fn close(mut self) -> Result<(), BrowserError> {
        let _ = self.command(json!({"cmd": "close"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        Ok(())
    }
}
