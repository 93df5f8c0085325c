//! The HTTP alternative, as the article recommends: the kernels behind an async HTTP/1.1 service
//! (axum on tokio, keep-alive), on 127.0.0.1 and a port the OS picks, announced as the first line
//! on stdout ("LISTENING <port>"). It exits when stdin closes.
//!
//! Scalar calls take and return JSON. Arrays travel as raw little-endian f64 bytes, never JSON, so
//! HTTP pays only for framing and copies, not for number formatting:
//!
//! | endpoint | request body | response body |
//! |---|---|---|
//! | `POST /add` | `{"a": i64, "b": i64}` | `{"result": i64}`; overflow: 400 `{"error": "overflow", "message": ...}` |
//! | `POST /add_batch` | `[[a, b], ...]` | `{"result": [a + b, ...]}`; any overflow fails the batch as above |
//! | `POST /hello` | `{"name": str}` | `{"result": "hello " + name}` |
//! | `POST /hello_person` | `{"name": str, "age": i64}` | `{"name": "xiaohong", "age": age}` |
//! | `GET /multi_return` | - | `{"result": [1, 2]}` |
//! | `POST /sum` | f64 bytes | 8 bytes: the sum as little-endian f64 |
//! | `POST /scale?k=F` | f64 bytes | the scaled f64 bytes |
//! | `POST /sha256` | any bytes | the 32-byte digest |
//! | `POST /filter_gt?t=F` | f64 bytes | the f64 bytes of the elements > t |

use std::net::Ipv4Addr;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Json, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use serde::{Deserialize, Serialize};
use shmcall::kernels::{arrays, article, crypto};
use shmcall_bench_servers::{announce, f64_bytes, f64s, scale_bytes, stdin_closed};

/// Largest request body: 1 GiB, room for 1e8 f64 (800 MB). axum's default is 2 MB.
const BODY_LIMIT: usize = 1 << 30;

#[derive(Deserialize)]
struct AddReq {
    a: i64,
    b: i64,
}

#[derive(Deserialize)]
struct HelloReq {
    name: String,
}

#[derive(Serialize, Deserialize)]
struct PersonJson {
    name: String,
    age: i64,
}

#[derive(Serialize)]
struct Reply<T> {
    result: T,
}

#[derive(Deserialize)]
struct ScaleQuery {
    k: f64,
}

#[derive(Deserialize)]
struct FilterQuery {
    t: f64,
}

/// A refused call: 400 with a machine-readable kind, so the client can raise the matching
/// exception (OverflowError for "overflow").
enum ApiError {
    Overflow(String),
    Invalid(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (kind, message) = match self {
            ApiError::Overflow(m) => ("overflow", m),
            ApiError::Invalid(m) => ("invalid", m),
        };
        #[derive(Serialize)]
        struct Body {
            error: &'static str,
            message: String,
        }
        (
            StatusCode::BAD_REQUEST,
            Json(Body {
                error: kind,
                message,
            }),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn add(Json(r): Json<AddReq>) -> ApiResult<Json<Reply<i64>>> {
    let result = article::add(r.a, r.b).map_err(|e| ApiError::Overflow(e.to_string()))?;
    Ok(Json(Reply { result }))
}

async fn add_batch(Json(pairs): Json<Vec<(i64, i64)>>) -> ApiResult<Json<Reply<Vec<i64>>>> {
    let result = pairs
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| {
            article::add(a, b).map_err(|e| ApiError::Overflow(format!("pair {i}: {e}")))
        })
        .collect::<ApiResult<Vec<i64>>>()?;
    Ok(Json(Reply { result }))
}

async fn hello(Json(r): Json<HelloReq>) -> Json<Reply<String>> {
    Json(Reply {
        result: article::hello(&r.name),
    })
}

async fn hello_person(Json(p): Json<PersonJson>) -> Json<PersonJson> {
    let out = article::hello_person(article::Person {
        name: p.name,
        age: p.age,
    });
    Json(PersonJson {
        name: out.name,
        age: out.age,
    })
}

async fn multi_return() -> Json<Reply<(i64, i64)>> {
    Json(Reply {
        result: article::multi_return(),
    })
}

// The array kernels run on the tokio worker that received the request rather than via
// spawn_blocking: each client waits for its own answer anyway, and the hop to the blocking pool
// would only add latency to small calls. (The concurrent-client runs only call /add.)

async fn sum(body: Bytes) -> ApiResult<Bytes> {
    let xs = f64s(&body).map_err(ApiError::Invalid)?;
    let s = arrays::sum::<f64>(&xs).map_err(|e| ApiError::Invalid(e.to_string()))?;
    Ok(Bytes::copy_from_slice(&s.to_le_bytes()))
}

async fn scale(Query(q): Query<ScaleQuery>, body: Bytes) -> ApiResult<Bytes> {
    scale_bytes(body, q.k).map_err(ApiError::Invalid)
}

async fn sha256(body: Bytes) -> Bytes {
    Bytes::copy_from_slice(&crypto::sha256(&body))
}

async fn filter_gt(Query(q): Query<FilterQuery>, body: Bytes) -> ApiResult<Bytes> {
    let xs = f64s(&body).map_err(ApiError::Invalid)?;
    Ok(f64_bytes(arrays::filter_gt::<f64>(&xs, q.t)))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    announce(listener.local_addr()?.port())?;
    // Nagle's algorithm would hold back a small response until the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = Router::new()
        .route("/add", post(add))
        .route("/add_batch", post(add_batch))
        .route("/hello", post(hello))
        .route("/hello_person", post(hello_person))
        .route("/multi_return", get(multi_return))
        .route("/sum", post(sum))
        .route("/scale", post(scale))
        .route("/sha256", post(sha256))
        .route("/filter_gt", post(filter_gt))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    tokio::select! {
        served = async { axum::serve(listener, app).await } => served,
        // Exit at once rather than drain: the only client is the benchmark that just went away.
        () = stdin_closed() => std::process::exit(0),
    }
}
