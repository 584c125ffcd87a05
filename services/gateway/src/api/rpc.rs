//! Unary gRPC calls to any method of the platform by its descriptor: the
//! request and response are `DynamicMessage`s, so one handler serves every
//! route of the table.

use bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use std::collections::HashMap;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Encodes any message; decodes the response type it was made for.
pub struct DynamicCodec(MessageDescriptor);

pub struct DynamicEncoder;

pub struct DynamicDecoder(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.0.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let mut buf = Vec::with_capacity(item.encoded_len());
        item.encode(&mut buf)
            .map_err(|e| Status::internal(format!("encode request: {e}")))?;
        dst.put_slice(&buf);
        Ok(())
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        DynamicMessage::decode(self.0.clone(), bytes)
            .map(Some)
            .map_err(|e| Status::internal(format!("decode response: {e}")))
    }
}

/// The platform's methods and a channel per package (one service each).
#[derive(Clone)]
pub struct Upstreams {
    pub pool: DescriptorPool,
    /// `sanshi.identity.v1` → identity's channel, and so on.
    pub channels: HashMap<String, kit::grpc::TracedChannel>,
    /// The gateway's own service tokens, when it has credentials: sign-ins
    /// go to identity with them and the client's address, which identity
    /// trusts from a service only (its lockout counts per account and address).
    pub gateway_tokens: Option<kit::grpc::TokenSource>,
}

/// The RPCs whose caller's address identity counts by: failed logins, and
/// phone-code requests (limited per client address).
const SIGN_INS: [&str; 2] = [
    "sanshi.identity.v1.AuthService.Login",
    "sanshi.identity.v1.AuthService.RequestPhoneCode",
];

/// Metadata naming the end client's address (identity's `attempts::CLIENT_IP_METADATA`).
const CLIENT_IP_METADATA: &str = "x-sanshi-client-ip";

impl Upstreams {
    pub fn new(channels: HashMap<String, kit::grpc::TracedChannel>) -> anyhow::Result<Upstreams> {
        let pool = DescriptorPool::decode(sanshi_proto::FILE_DESCRIPTOR_SET)?;
        Ok(Upstreams {
            pool,
            channels,
            gateway_tokens: None,
        })
    }

    /// `package.Service/Method` by name.
    pub fn method(&self, rpc: &str) -> Option<MethodDescriptor> {
        let (service, method) = rpc.split_once('/')?;
        self.pool
            .get_service_by_name(service)?
            .methods()
            .find(|m| m.name() == method)
    }

    /// Calls `method` with `input` for an HTTP client at `client`: a sign-in
    /// without a bearer token goes with the gateway's service token and the
    /// client's address; anything else as [`Upstreams::call`].
    pub async fn call_for(
        &self,
        method: &MethodDescriptor,
        input: DynamicMessage,
        token: Option<&str>,
        client: Option<std::net::IpAddr>,
    ) -> Result<DynamicMessage, Status> {
        let sign_in = token.is_none() && SIGN_INS.contains(&method.full_name());
        if let (true, Some(tokens), Some(client)) = (sign_in, &self.gateway_tokens, client) {
            match tokens().await {
                Ok(service_token) => {
                    let mut metadata = tonic::metadata::MetadataMap::new();
                    if let Ok(value) = client.to_string().parse() {
                        metadata.insert(CLIENT_IP_METADATA, value);
                    }
                    return self.call_with(method, input, Some(&service_token), metadata).await;
                }
                // Without its token the gateway still signs people in; identity
                // then counts the gateway's own address.
                Err(error) => tracing::warn!(error = %error, "no gateway service token for a sign-in"),
            }
        }
        self.call(method, input, token).await
    }

    /// Calls `method` with `input`, forwarding `token` as the bearer token.
    pub async fn call(
        &self,
        method: &MethodDescriptor,
        input: DynamicMessage,
        token: Option<&str>,
    ) -> Result<DynamicMessage, Status> {
        self.call_with(method, input, token, tonic::metadata::MetadataMap::new())
            .await
    }

    async fn call_with(
        &self,
        method: &MethodDescriptor,
        input: DynamicMessage,
        token: Option<&str>,
        metadata: tonic::metadata::MetadataMap,
    ) -> Result<DynamicMessage, Status> {
        let package = method.parent_service().parent_file().package_name().to_string();
        let channel = self
            .channels
            .get(&package)
            .cloned()
            .ok_or_else(|| Status::unimplemented(format!("no upstream for {package}")))?;
        let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
        let path = http::uri::PathAndQuery::try_from(path).map_err(|e| Status::internal(e.to_string()))?;
        let mut request = match token {
            Some(token) => kit::grpc::with_token(input, token),
            None => tonic::Request::new(input),
        };
        for entry in metadata.iter() {
            if let tonic::metadata::KeyAndValueRef::Ascii(key, value) = entry {
                request.metadata_mut().insert(key.clone(), value.clone());
            }
        }
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.map_err(|e| {
            tracing::warn!(package, error = %e, "upstream not ready");
            Status::unavailable("服务暂不可用，请稍后重试")
        })?;
        let response = grpc.unary(request, path, DynamicCodec(method.output())).await?;
        Ok(response.into_inner())
    }
}
