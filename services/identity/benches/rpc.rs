//! Identity read RPCs with token verification versus a bare tonic echo server,
//! under the same closed-loop load in the same run. Run with `scripts/bench-rpc`.
//!
//! Each identity call carries a bearer token and goes through kit's full server
//! stack (auth layer verifying the Ed25519 JWT, request id, load shedding,
//! readiness gate, tracing span):
//! - `RegionService/GetRegion`: served from the in-memory region tree;
//! - `AccountService/GetAccount {id: "me"}`: one database read (SQLite by default).
//!
//! The baseline is a bare `tonic::transport::Server` serving the same two RPCs
//! with constant answers and no layers. Prints requests/second and latency
//! percentiles of each pair and their ratios.

use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::account_service_client::AccountServiceClient;
use sanshi_proto::identity::v1::account_service_server::{AccountService, AccountServiceServer};
use sanshi_proto::identity::v1::region_service_client::RegionServiceClient;
use sanshi_proto::identity::v1::region_service_server::{RegionService, RegionServiceServer};
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

struct Echo;

#[tonic::async_trait]
impl AccountService for Echo {
    async fn register_account(&self, _: Request<pb::RegisterAccountRequest>) -> Result<Response<pb::Account>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn create_account(&self, _: Request<pb::CreateAccountRequest>) -> Result<Response<pb::Account>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn get_account(&self, request: Request<pb::GetAccountRequest>) -> Result<Response<pb::Account>, Status> {
        let id = request.into_inner().id;
        Ok(Response::new(pb::Account {
            id,
            username: "yuzhong".into(),
            display_name: "渝中区管理员".into(),
            region_code: "500103".into(),
            roles: vec![pb::RoleGrant {
                role: pb::Role::DistrictAdmin as i32,
                region_code: "500103".into(),
            }],
            ..Default::default()
        }))
    }
    async fn list_accounts(
        &self,
        _: Request<pb::ListAccountsRequest>,
    ) -> Result<Response<pb::ListAccountsResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn update_account(&self, _: Request<pb::UpdateAccountRequest>) -> Result<Response<pb::Account>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn grant_role(&self, _: Request<pb::GrantRoleRequest>) -> Result<Response<pb::Account>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn revoke_role(&self, _: Request<pb::RevokeRoleRequest>) -> Result<Response<pb::Account>, Status> {
        Err(Status::unimplemented("echo"))
    }
}

#[tonic::async_trait]
impl RegionService for Echo {
    async fn get_region(&self, request: Request<pb::GetRegionRequest>) -> Result<Response<pb::Region>, Status> {
        Ok(Response::new(pb::Region {
            code: request.into_inner().code,
            name: "渝中区".into(),
            level: pb::RegionLevel::District as i32,
            parent_code: "5001".into(),
            longitude: Some(106.568896),
            latitude: Some(29.552736),
        }))
    }
    async fn list_regions(
        &self,
        _: Request<pb::ListRegionsRequest>,
    ) -> Result<Response<pb::ListRegionsResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
    async fn list_region_ancestors(
        &self,
        _: Request<pb::ListRegionAncestorsRequest>,
    ) -> Result<Response<pb::ListRegionAncestorsResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
}

#[derive(Clone, Copy)]
enum Rpc {
    GetRegion,
    GetAccount,
}

async fn call(channel: &Channel, rpc: Rpc, token: Option<&str>) -> Result<(), Status> {
    fn request<T>(message: T, token: Option<&str>) -> Request<T> {
        match token {
            Some(t) => kit::grpc::with_token(message, t),
            None => Request::new(message),
        }
    }
    match rpc {
        Rpc::GetRegion => {
            let message = pb::GetRegionRequest { code: "500103".into() };
            RegionServiceClient::new(channel.clone())
                .get_region(request(message, token))
                .await
                .map(|_| ())
        }
        Rpc::GetAccount => {
            let message = pb::GetAccountRequest { id: "me".into() };
            AccountServiceClient::new(channel.clone())
                .get_account(request(message, token))
                .await
                .map(|_| ())
        }
    }
}

struct Measurement {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Measurement {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> u64 {
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us.get(index).copied().unwrap_or(0)
    }
}

/// `concurrency` callers over `connections` HTTP/2 connections, each sending
/// the next request as soon as the last one answers, for `duration`.
async fn load(
    url: &str,
    rpc: Rpc,
    token: Option<&str>,
    connections: usize,
    concurrency: usize,
    duration: Duration,
) -> Measurement {
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(
            Channel::from_shared(url.to_string())
                .unwrap()
                .connect()
                .await
                .expect("connect"),
        );
    }
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let channel = channels[i % connections].clone();
        let token = token.map(str::to_string);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match call(&channel, rpc, token.as_deref()).await {
                    Ok(()) => ok += 1,
                    Err(_) => errors += 1,
                }
                latencies.push(t0.elapsed().as_micros() as u64);
            }
            (ok, errors, latencies)
        }));
    }
    let mut m = Measurement {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let (ok, errors, latencies) = task.await.unwrap();
        m.requests += ok;
        m.errors += errors;
        m.latencies_us.extend(latencies);
    }
    m.elapsed = started.elapsed();
    m.latencies_us.sort_unstable();
    m
}

fn report(name: &str, m: &Measurement) {
    println!(
        "{name:<20} {:>9.0} req/s  p50 {:>6} µs  p99 {:>6} µs  ({} requests, {} errors)",
        m.rps(),
        m.percentile(0.50),
        m.percentile(0.99),
        m.requests,
        m.errors
    );
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/identity.db", dir.path().display());
        let identity = identity::start(identity::testing::config(&url), std::future::pending())
            .await
            .unwrap();
        let identity_url = format!("http://{}", identity.local_addr);
        let mut auth =
            sanshi_proto::identity::v1::auth_service_client::AuthServiceClient::connect(identity_url.clone())
                .await
                .unwrap();
        let token = auth
            .login(pb::LoginRequest {
                username: "yuzhong".into(),
                password: identity::testing::PASSWORD.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .tokens
            .unwrap()
            .access_token;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(AccountServiceServer::new(Echo))
                .add_service(RegionServiceServer::new(Echo))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );

        println!("load: {concurrency} concurrent callers over {connections} connections, {seconds} s per target");
        let duration = Duration::from_secs(seconds);
        let warm_up = Duration::from_secs(1);
        let mut ratios = Vec::new();
        for (rpc, name) in [(Rpc::GetRegion, "GetRegion"), (Rpc::GetAccount, "GetAccount")] {
            // Warm both up, then measure each in turn under the same load.
            load(&echo_url, rpc, None, connections, concurrency, warm_up).await;
            load(&identity_url, rpc, Some(&token), connections, concurrency, warm_up).await;
            let echo = load(&echo_url, rpc, None, connections, concurrency, duration).await;
            let served = load(&identity_url, rpc, Some(&token), connections, concurrency, duration).await;
            report(&format!("echo {name}"), &echo);
            report(&format!("identity {name}"), &served);
            assert_eq!(served.errors, 0, "identity answered {name} with errors");
            ratios.push((name, served.rps() / echo.rps()));
        }
        for (name, ratio) in ratios {
            println!("ratio identity/echo {name}: {ratio:.2} (goal >= 0.60)");
        }
    });
}
