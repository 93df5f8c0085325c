//! The gRPC alternative: the kernels behind a tonic service (proto/bench.proto) on 127.0.0.1 and a
//! port the OS picks, announced as the first line on stdout ("LISTENING <port>"). It exits when
//! stdin closes. Arrays are `bytes` fields of little-endian f64; an i64 overflow in Add or
//! AddStream fails the call with OUT_OF_RANGE.

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;

use bytes::Bytes;
use shmcall::kernels::{arrays, article, crypto};
use shmcall_bench_servers::{announce, f64_bytes, f64s, scale_bytes, stdin_closed};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

mod pb {
    tonic::include_proto!("bench");
}

use pb::bench_server::{Bench, BenchServer};
use pb::{
    AddBatch, AddBatchReply, AddReply, AddRequest, Blob, Empty, F64Array, FilterRequest,
    HelloReply, HelloRequest, MultiReturnReply, Person, ScaleRequest, SumReply,
};

/// Largest message either way: 1 GiB, room for 1e8 f64 (800 MB). tonic's default for decoding is
/// 4 MB. (Protobuf itself caps a message below 2 GiB.)
const MESSAGE_LIMIT: usize = 1 << 30;

struct Service;

fn overflow(e: impl std::fmt::Display) -> Status {
    Status::out_of_range(e.to_string())
}

fn add_batch(batch: AddBatch) -> Result<AddBatchReply, Status> {
    if batch.a.len() != batch.b.len() {
        return Err(Status::invalid_argument("a and b differ in length"));
    }
    let results = batch
        .a
        .iter()
        .zip(&batch.b)
        .map(|(&a, &b)| article::add(a, b).map_err(overflow))
        .collect::<Result<_, _>>()?;
    Ok(AddBatchReply { results })
}

// Array kernels run on the tokio worker that received the call, not via spawn_blocking: each
// client waits for its own answer anyway, and the hop would only add latency to small calls.
#[tonic::async_trait]
impl Bench for Service {
    async fn add(&self, req: Request<AddRequest>) -> Result<Response<AddReply>, Status> {
        let AddRequest { a, b } = req.into_inner();
        let result = article::add(a, b).map_err(overflow)?;
        Ok(Response::new(AddReply { result }))
    }

    async fn hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let result = article::hello(&req.into_inner().name);
        Ok(Response::new(HelloReply { result }))
    }

    async fn hello_person(&self, req: Request<Person>) -> Result<Response<Person>, Status> {
        let Person { name, age } = req.into_inner();
        let out = article::hello_person(article::Person { name, age });
        Ok(Response::new(Person {
            name: out.name,
            age: out.age,
        }))
    }

    async fn multi_return(&self, _: Request<Empty>) -> Result<Response<MultiReturnReply>, Status> {
        let (a, b) = article::multi_return();
        Ok(Response::new(MultiReturnReply { a, b }))
    }

    async fn sum(&self, req: Request<F64Array>) -> Result<Response<SumReply>, Status> {
        let data = req.into_inner().data;
        let xs = f64s(&data).map_err(Status::invalid_argument)?;
        let result = arrays::sum::<f64>(&xs).map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(SumReply { result }))
    }

    async fn scale(&self, req: Request<ScaleRequest>) -> Result<Response<F64Array>, Status> {
        let ScaleRequest { data, k } = req.into_inner();
        let data = scale_bytes(data, k).map_err(Status::invalid_argument)?;
        Ok(Response::new(F64Array { data }))
    }

    async fn sha256(&self, req: Request<Blob>) -> Result<Response<Blob>, Status> {
        let data = Bytes::copy_from_slice(&crypto::sha256(&req.into_inner().data));
        Ok(Response::new(Blob { data }))
    }

    async fn filter_gt(&self, req: Request<FilterRequest>) -> Result<Response<F64Array>, Status> {
        let FilterRequest { data, t } = req.into_inner();
        let xs = f64s(&data).map_err(Status::invalid_argument)?;
        Ok(Response::new(F64Array {
            data: f64_bytes(arrays::filter_gt::<f64>(&xs, t)),
        }))
    }

    type AddStreamStream = Pin<Box<dyn Stream<Item = Result<AddBatchReply, Status>> + Send>>;

    /// One reply per batch, in order; an error item ends the call with that status.
    async fn add_stream(
        &self,
        req: Request<Streaming<AddBatch>>,
    ) -> Result<Response<Self::AddStreamStream>, Status> {
        let replies = req.into_inner().map(|batch| batch.and_then(add_batch));
        Ok(Response::new(Box::pin(replies)))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let incoming = TcpIncoming::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?
        // Nagle's algorithm would hold back small frames until the client's delayed ACK.
        .with_nodelay(Some(true));
    announce(incoming.local_addr()?.port())?;
    let service = BenchServer::new(Service)
        .max_decoding_message_size(MESSAGE_LIMIT)
        .max_encoding_message_size(MESSAGE_LIMIT);
    let server = tonic::transport::Server::builder()
        // Grow HTTP/2 flow-control windows with the measured bandwidth-delay product, as grpcio
        // does on its side; fixed default windows would throttle the large arrays.
        .http2_adaptive_window(Some(true))
        .add_service(service)
        .serve_with_incoming(incoming);
    tokio::select! {
        served = server => served.map_err(std::io::Error::other),
        // Exit at once rather than drain: the only client is the benchmark that just went away.
        () = stdin_closed() => std::process::exit(0),
    }
}
