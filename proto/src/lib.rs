//! Generated gRPC contracts of the Sanshi platform.
//!
//! One module per protobuf package; `FILE_DESCRIPTOR_SET` feeds gRPC reflection.

/// Encoded `FileDescriptorSet` of every Sanshi proto file.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("sanshi_descriptor");

pub mod events {
    pub mod v1 {
        tonic::include_proto!("sanshi.events.v1");
    }
}
pub mod identity {
    pub mod v1 {
        tonic::include_proto!("sanshi.identity.v1");
    }
}
pub mod qualification {
    pub mod v1 {
        tonic::include_proto!("sanshi.qualification.v1");
    }
}
pub mod matching {
    pub mod v1 {
        tonic::include_proto!("sanshi.matching.v1");
    }
}
pub mod records {
    pub mod v1 {
        tonic::include_proto!("sanshi.records.v1");
    }
}
pub mod incentive {
    pub mod v1 {
        tonic::include_proto!("sanshi.incentive.v1");
    }
}
pub mod federation {
    pub mod v1 {
        tonic::include_proto!("sanshi.federation.v1");
    }
}
pub mod notification {
    pub mod v1 {
        tonic::include_proto!("sanshi.notification.v1");
    }
}
pub mod gateway {
    pub mod v1 {
        tonic::include_proto!("sanshi.gateway.v1");
    }
}
