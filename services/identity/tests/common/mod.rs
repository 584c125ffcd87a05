//! Starts a real identity service on a random port over a test database.
#![allow(dead_code)]

use identity::Config;
use kit::db::testing::TestDb;
use sanshi_proto::identity::v1 as pb;
use sanshi_proto::identity::v1::{
    account_service_client::AccountServiceClient, audit_service_client::AuditServiceClient,
    auth_service_client::AuthServiceClient, region_service_client::RegionServiceClient,
};
use tonic::transport::Channel;

pub use identity::testing::{PASSWORD, SERVICE_SECRET};

pub struct Harness {
    pub db: TestDb,
    pub config: Config,
    pub channel: Channel,
    /// Where the service listens.
    pub addr: std::net::SocketAddr,
    /// The text messages (one-time codes) it sent.
    pub sms: identity::testing::SmsOutbox,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn config(db: &TestDb) -> Config {
    identity::testing::config(&db.config.url)
}

impl Harness {
    pub async fn start(db: TestDb) -> Self {
        let config = config(&db);
        Self::start_with(db, config).await
    }

    pub async fn start_with(db: TestDb, config: Config) -> Self {
        let (sms, sender) = identity::testing::sms_outbox();
        Self::start_with_sms(db, config, sms, sender).await
    }

    /// Started with `sender` texting the codes (`None`: no SMS provider);
    /// `sms` is what the test reads them from.
    pub async fn start_with_sms(
        db: TestDb,
        config: Config,
        sms: identity::testing::SmsOutbox,
        sender: Option<std::sync::Arc<dyn identity::sms::SmsSender>>,
    ) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = identity::start_with(config.clone(), sender, async {
            let _ = stopped.await;
        })
        .await
        .expect("identity starts");
        let addr = running.local_addr;
        let url = format!("http://{addr}");
        let channel = Channel::from_shared(url).unwrap().connect().await.expect("connect");
        let task = tokio::spawn(running.wait());
        Self {
            db,
            config,
            channel,
            addr,
            sms,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("clean shutdown");
        }
    }

    /// A channel whose calls come from `ip`, an address of 127.0.0.0/8 (all
    /// of which Linux routes to the loopback): another client machine.
    pub async fn channel_from(&self, ip: [u8; 4]) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .local_address(Some(std::net::IpAddr::from(ip)))
            .connect()
            .await
            .expect("connect from another loopback address")
    }

    pub fn auth(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(self.channel.clone())
    }
    pub fn accounts(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.channel.clone())
    }
    pub fn regions(&self) -> RegionServiceClient<Channel> {
        RegionServiceClient::new(self.channel.clone())
    }
    pub fn audit(&self) -> AuditServiceClient<Channel> {
        AuditServiceClient::new(self.channel.clone())
    }

    pub async fn try_login(&self, username: &str, password: &str) -> Result<pb::TokenPair, tonic::Status> {
        let response = self
            .auth()
            .login(pb::LoginRequest {
                username: username.into(),
                password: password.into(),
            })
            .await?;
        Ok(response.into_inner().tokens.expect("tokens"))
    }

    /// Asks for a registration code for `phone` and returns it as texted.
    pub async fn registration_code(&self, phone: &str) -> String {
        let before = self.sms.sent_to(phone).len();
        self.auth()
            .request_phone_code(pb::RequestPhoneCodeRequest {
                phone: phone.into(),
                purpose: pb::PhoneCodePurpose::Registration as i32,
            })
            .await
            .expect("a code is sent");
        self.sms.wait_code(phone, before + 1).await.expect("the code arrives")
    }

    /// Logs in and returns the access token.
    pub async fn token(&self, username: &str) -> String {
        self.try_login(username, PASSWORD).await.expect("login").access_token
    }
}

pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    kit::grpc::with_token(message, token)
}

pub fn new_account(username: &str, region: &str, roles: &[(pb::Role, &str)]) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        account: Some(pb::Account {
            username: username.into(),
            display_name: "测试用户".into(),
            region_code: region.into(),
            roles: roles
                .iter()
                .map(|(role, region)| pb::RoleGrant {
                    role: *role as i32,
                    region_code: region.to_string(),
                })
                .collect(),
            ..Default::default()
        }),
        initial_password: PASSWORD.into(),
        request_id: String::new(),
    }
}
