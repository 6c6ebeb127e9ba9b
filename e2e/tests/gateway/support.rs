//! What the gateway tests share: a fake upstream, a raw HTTP client that fires requests
//! over separate connections at the same moment, a web root with a built-looking app, and
//! the checks of the JSON error shape.

use e2e::gateway::{Gateway, Profile, Upstreams, profile_values};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// A tiny upstream standing in for every service: it answers any request with 200 JSON
/// naming the path, the request id and the client-address headers (`x_real_ip`,
/// `x_forwarded_for`: "" when absent) it was given, and a path ending in `/events` with an
/// endless `text/event-stream`. Stopping it closes its port and every open connection.
pub struct FakeUpstream {
    pub addr: String,
    hits: Arc<AtomicUsize>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl FakeUpstream {
    pub async fn start() -> Self {
        // An accept queue for the largest burst a test sends at once (the load profile's
        // test: about 2,400 connections). With tokio's default of 1,024, a busy machine's
        // slower accept loop can drop SYNs, and nginx's connect then waits for their
        // retransmission past its 5 s timeout: a 502 (seen once, after 5.04 s).
        //
        // SO_REUSEADDR as `TcpListener::bind` sets it: a test binds the address again after
        // `stop` (a service coming back).
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let listener = socket.listen(4096).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            // Dropped with this task (on stop): aborts every connection's task.
            let mut connections = JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections.spawn(serve(socket, counter.clone()));
            }
        });
        Self {
            addr,
            hits,
            task: Some(task),
        }
    }

    /// How many requests reached the upstream.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Closes the listening port and every open connection.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn upstreams(&self) -> Upstreams {
        Upstreams::all(&self.addr)
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(mut socket: TcpStream, hits: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    loop {
        let Some(head_end) = read_head(&mut socket, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let length = header_in(&head, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 8192];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        hits.fetch_add(1, Ordering::SeqCst);
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let request_id = header_in(&head, "x-request-id").unwrap_or_default();
        let real_ip = header_in(&head, "x-real-ip").unwrap_or_default();
        let forwarded_for = header_in(&head, "x-forwarded-for").unwrap_or_default();
        if path.ends_with("/events") {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                        Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
            let first = ": connected\n\n";
            let chunk = format!("{head}{:x}\r\n{first}\r\n", first.len());
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            // Held open until the gateway closes it.
            while matches!(socket.read(&mut [0u8; 1024]).await, Ok(n) if n > 0) {}
            return;
        }
        let body = serde_json::json!({
            "path": path,
            "request_id": request_id,
            "x_real_ip": real_ip,
            "x_forwarded_for": forwarded_for,
        })
        .to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             X-Frame-Options: SAMEORIGIN\r\n\r\n{body}",
            body.len()
        );
        if socket.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads until the end of a request or response head; returns the offset after it.
async fn read_head(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(at + 4);
        }
        let mut chunk = [0u8; 8192];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// One answer read by [`burst`].
pub struct Answer {
    pub status: u16,
    head: String,
    pub body: String,
    /// The connection of an event stream, kept open while the answer lives.
    pub stream: Option<TcpStream>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        header_in(&self.head, name)
    }
}

/// One raw HTTP/1.1 request (`Connection: close`), with a JSON body when `body` is given.
pub fn request(method: &str, path: &str, body: Option<&str>) -> String {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n");
    if let Some(body) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    req
}

/// [`request`] with extra request headers.
pub fn request_with_headers(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> String {
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    request(method, path, body).replacen("\r\n", &format!("\r\n{extra}"), 1)
}

/// What a burst found, and how long it took from before the first byte was sent until the
/// last answer was read (every request was metered inside that span).
pub struct Burst {
    pub answers: Vec<Answer>,
    pub span: Duration,
}

/// Opens one connection per request first, then sends all requests at the same moment
/// (released together by a barrier) and reads every answer. Event streams are kept open.
pub async fn burst(port: u16, requests: Vec<String>) -> Burst {
    let mut sockets = Vec::new();
    for _ in &requests {
        sockets.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    let barrier = Arc::new(Barrier::new(requests.len()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (mut socket, req) in sockets.into_iter().zip(requests) {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            socket.write_all(req.as_bytes()).await.unwrap();
            read_answer(socket).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    Burst {
        answers,
        span: started.elapsed(),
    }
}

async fn read_answer(mut socket: TcpStream) -> Answer {
    let mut buf = Vec::new();
    let head_end = tokio::time::timeout(Duration::from_secs(30), read_head(&mut socket, &mut buf))
        .await
        .expect("no answer within 30 s")
        .expect("the connection closed before an answer");
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap();
    let is_stream = header_in(&head, "content-type").as_deref() == Some("text/event-stream");
    if status == 200 && is_stream {
        return Answer {
            status,
            head,
            body: String::new(),
            stream: Some(socket),
        };
    }
    tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut buf))
        .await
        .expect("the answer did not end within 30 s")
        .unwrap();
    Answer {
        status,
        head,
        body: String::from_utf8_lossy(&buf[head_end..]).into_owned(),
        stream: None,
    }
}

/// A profile value, e.g. `limit(Profile::Default, "LIMIT_AUTH_BURST")`.
pub fn limit(profile: Profile, key: &str) -> String {
    profile_values(profile)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("{key} is not in the {} profile", profile.name()))
        .1
}

pub fn limit_number(profile: Profile, key: &str) -> usize {
    limit(profile, key).parse().unwrap()
}

/// An nginx rate ("10r/m", "20r/s") in requests per second.
pub fn per_second(rate: &str) -> f64 {
    let (n, unit) = rate.split_once("r/").unwrap();
    let n: f64 = n.parse().unwrap();
    match unit {
        "s" => n,
        "m" => n / 60.0,
        other => panic!("unknown rate unit {other}"),
    }
}

/// Asserts that `body` is the gateway's JSON error with `code`.
pub fn assert_error_shape(body: &str, code: &str) {
    let value: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    assert_eq!(value["error"]["code"], code, "{body}");
    assert!(
        value["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// A web root that looks like `web/dist`: index.html and a hashed script and stylesheet.
pub struct WebRoot {
    pub dir: PathBuf,
}

impl WebRoot {
    pub fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("railrush-web-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(
            dir.join("index.html"),
            "<!doctype html><html><head><title>RailRush</title>\
             <script type=\"module\" src=\"/assets/index-3f9a1c2e.js\"></script></head>\
             <body><div id=\"app\"></div></body></html>\n",
        )
        .unwrap();
        // Large enough to be compressed (gzip_min_length).
        let script = "export const seats = [];\n".repeat(200);
        std::fs::write(dir.join("assets/index-3f9a1c2e.js"), script).unwrap();
        std::fs::write(dir.join("assets/index-8d1b7f40.css"), "body{margin:0}\n").unwrap();
        // As root, nginx's workers run as an unprivileged user that must read these.
        for d in [&dir, &dir.join("assets")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for WebRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A gateway in front of one fake upstream, with some profile values replaced.
pub async fn gateway_with(
    upstream: &FakeUpstream,
    web: &WebRoot,
    profile: Profile,
    overrides: &[(&str, &str)],
) -> Gateway {
    Gateway::start_with(&upstream.upstreams(), web.path(), profile, overrides)
        .await
        .unwrap()
}

/// A reqwest client that never goes through a proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
