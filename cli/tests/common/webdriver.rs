//! Just enough of the W3C WebDriver protocol to drive Debian's Chromium through chromedriver:
//! a session, navigation, elements (find, type, click, text) and screenshots. chromedriver and
//! Chromium must be installed (`scripts/test.sh` installs `chromium` and `chromium-driver`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The key W3C WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session on it; both end on drop.
pub struct Browser {
    driver: Child,
    client: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium (as root: without its sandbox; without the
    /// background connections a machine with no outside network refuses).
    pub async fn start() -> Self {
        let driver_path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromedriver is not installed: scripts/test.sh installs chromium-driver");
        let port = super::free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let client = super::http();
        let base = format!("http://127.0.0.1:{port}");
        let ready = super::poll_until(Duration::from_secs(20), || async {
            match client.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        assert!(ready, "chromedriver did not come up");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1440,1000",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_owned();
        Self {
            driver,
            client,
            session: format!("{base}/session/{session}"),
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("webdriver call")
            .json()
            .await
            .expect("webdriver answer");
        if answer["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    /// Opens `url`.
    pub async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// A text the session answers at `path`.
    async fn read(&self, path: &str) -> String {
        self.call(reqwest::Method::GET, path, None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.read("/url").await
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.read("/source").await
    }

    /// The first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<Element> {
        let body = json!({"using": "css selector", "value": css});
        let answer: Value = self
            .client
            .post(format!("{}/element", self.session))
            .json(&body)
            .send()
            .await
            .expect("find")
            .json()
            .await
            .expect("find answer");
        answer["value"][ELEMENT]
            .as_str()
            .map(|id| Element(id.to_owned()))
    }

    /// The element matching `css`; panics when there is none.
    pub async fn element(&self, css: &str) -> Element {
        match self.find(css).await {
            Some(e) => e,
            None => panic!(
                "no `{css}` on {}:\n{}",
                self.url().await,
                self.source().await
            ),
        }
    }

    /// Types `text` into `element`.
    pub async fn type_into(&self, element: &Element, text: &str) {
        let path = format!("/element/{}/value", element.0);
        self.call(reqwest::Method::POST, &path, Some(json!({ "text": text })))
            .await;
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Element) {
        let path = format!("/element/{}/click", element.0);
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    /// Clicks `element`, which navigates (a link, a form's button), and waits until the next
    /// page has loaded: a click answers once the event is dispatched, which may be before the
    /// browser has left the page, so reading the URL right after it can still see the old one.
    pub async fn follow(&self, element: &Element) {
        self.execute("window.dezkyLeft = false; return true").await;
        self.click(element).await;
        let arrived = super::poll_until(Duration::from_secs(15), || async {
            self.execute(
                "return window.dezkyLeft === undefined && document.readyState === 'complete'",
            )
            .await
                == Value::Bool(true)
        })
        .await;
        assert!(arrived, "the click did not lead to a new page");
    }

    /// Runs `script` in the page and answers what it returns.
    async fn execute(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.call(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    /// The visible text of `element`.
    pub async fn text(&self, element: &Element) -> String {
        self.read(&format!("/element/{}/text", element.0)).await
    }

    /// Saves a screenshot of the page as `path` (PNG).
    pub async fn screenshot(&self, path: &Path) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, bytes).expect("write screenshot");
    }

    /// Ends the session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.delete(&self.session).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
