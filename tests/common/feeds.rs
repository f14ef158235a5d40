//! Upstream price feeds served on 127.0.0.1:0 whose answers a test changes while a gateway or a
//! processor refreshes from them (live prices, issue 16): the small LiteLLM map and genai-prices
//! v2 feed of `tests/fixtures/catalog-build/`, edited, or a failure (an error status, an HTML
//! page, a cut body, silence past the fetch timeout, a closed connection).
#![allow(dead_code)]

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http_server::{answer, ok_json, Canned};

/// How a feed answers.
#[derive(Clone)]
pub enum Answer {
    /// A canned answer (any status, body, cut or whole).
    Canned(Canned),
    /// Reads the request and says nothing for this long (past the client's timeout).
    Silent(Duration),
    /// Closes the connection without a word.
    Close,
}

/// The two feeds' paths.
pub const LITELLM: &str = "/litellm.json";
pub const GENAI: &str = "/genai.json";

/// The small feeds the tests start from.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/catalog-build/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// The small LiteLLM map with `model` added (`openai`, `input`/`output` USD per token).
pub fn litellm_with(model: &str, input: f64, output: f64) -> String {
    let mut m: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&fixture("litellm_small.json")).expect("map");
    m.insert(
        model.to_owned(),
        serde_json::json!({"litellm_provider": "openai", "mode": "chat",
            "input_cost_per_token": input, "output_cost_per_token": output}),
    );
    serde_json::to_string(&m).expect("json")
}

/// The small LiteLLM map without `models`.
pub fn litellm_without(models: &[&str]) -> String {
    let mut m: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&fixture("litellm_small.json")).expect("map");
    for k in models {
        m.remove(*k);
    }
    serde_json::to_string(&m).expect("json")
}

/// The small genai-prices feed with a model added first to OpenAI's list (its JSON object).
pub fn genai_with(model_json: &str) -> String {
    fixture("genai_small_v2.json").replacen(
        r#""models": ["#,
        &format!("\"models\": [\n{model_json},"),
        1,
    )
}

/// A feed server; stops when dropped.
pub struct Feeds {
    pub addr: SocketAddr,
    /// Connections accepted so far (a fetch has begun).
    pub connections: Arc<AtomicUsize>,
    routes: Arc<Mutex<Vec<(&'static str, Answer)>>>,
    stop: Arc<AtomicBool>,
}

impl Feeds {
    /// Serves the small feeds unchanged.
    pub fn start() -> Feeds {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let routes = Arc::new(Mutex::new(vec![
            (
                LITELLM,
                Answer::Canned(ok_json(fixture("litellm_small.json").into_bytes())),
            ),
            (
                GENAI,
                Answer::Canned(ok_json(fixture("genai_small_v2.json").into_bytes())),
            ),
        ]));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (r, s, n) = (routes.clone(), stop.clone(), connections.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                n.fetch_add(1, Ordering::SeqCst);
                let routes = r.lock().expect("routes").clone();
                std::thread::spawn(move || serve(&mut conn, &routes));
            }
        });
        Feeds {
            addr,
            connections,
            routes,
            stop,
        }
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `pricing.catalog.sources` naming both feeds (YAML flow).
    pub fn sources_yaml(&self) -> String {
        format!(
            "[{{ format: genai-prices, url: '{}' }}, {{ format: litellm, url: '{}' }}]",
            self.url(GENAI),
            self.url(LITELLM)
        )
    }

    /// How `path` answers from now on.
    pub fn set(&self, path: &'static str, a: Answer) {
        let mut r = self.routes.lock().expect("routes");
        r.retain(|(p, _)| *p != path);
        r.push((path, a));
    }

    /// `path` answers 200 with this JSON.
    pub fn set_json(&self, path: &'static str, body: &str) {
        self.set(path, Answer::Canned(ok_json(body.as_bytes().to_vec())));
    }
}

impl Drop for Feeds {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(conn: &mut TcpStream, routes: &[(&'static str, Answer)]) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    // Peek the path without consuming the request (answer() reads it).
    let mut buf = [0u8; 256];
    let n = conn.peek(&mut buf).unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    match routes.iter().find(|(p, _)| *p == path).map(|(_, a)| a) {
        Some(Answer::Silent(d)) => {
            let mut sink = [0u8; 1024];
            let _ = conn.read(&mut sink);
            std::thread::sleep(*d);
        }
        Some(Answer::Close) => {}
        Some(Answer::Canned(c)) => answer(conn, &[(path.as_str(), c.clone())]),
        None => answer(conn, &[]),
    }
}
