//! A dashboard visitor for tests: an HTTP client that does not follow redirects and carries the
//! session cookie by hand, so each test sees exactly what the server answered.

use std::net::SocketAddr;

use reqwest::header::{COOKIE, HeaderMap, SET_COOKIE};

/// One visitor: signed in once `login` succeeded.
pub struct Visitor {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
}

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// Where a redirect points.
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
}

/// `a=b&c=d`, percent-encoded.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page
        .find(marker)
        .expect("the page has a form with a CSRF token")
        + marker.len();
    page[start..]
        .split('"')
        .next()
        .expect("a closing quote")
        .to_owned()
}

impl Visitor {
    /// A visitor of the dashboard at `addr`, not signed in.
    pub fn new(addr: SocketAddr) -> Self {
        super::http();
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: format!("http://{addr}"),
            cookie: None,
        }
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.expect("request");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.answer(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST path` with a form.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.answer(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(fields)),
        )
        .await
    }

    /// Logs in with `token`; keeps the session cookie when one is set.
    pub async fn login(&mut self, token: &str) -> Answer {
        let answer = self.post("/ui/login", &[("token", token)]).await;
        if let Some(cookie) = answer.headers.get(SET_COOKIE) {
            let cookie = cookie.to_str().expect("cookie");
            self.cookie = Some(cookie.split(';').next().expect("pair").to_owned());
        }
        answer
    }

    /// The CSRF token of the overview's forms (signed in).
    pub async fn csrf(&self) -> String {
        csrf_of(&self.get("/ui/").await.body)
    }
}
