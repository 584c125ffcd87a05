//! Every event payload of the platform and its protobuf name. The impls live
//! here because kit owns the trait and sanshi-proto the types; a service that
//! publishes a new event adds one line.

use super::EventPayload;
use sanshi_proto::identity::v1 as identity;
use sanshi_proto::incentive::v1 as incentive;
use sanshi_proto::matching::v1 as matching;
use sanshi_proto::qualification::v1 as qualification;
use sanshi_proto::records::v1 as records;

macro_rules! payloads {
    ($($ty:ty => $name:literal),* $(,)?) => {
        $(impl EventPayload for $ty {
            const TYPE: &'static str = $name;
        })*
    };
}

payloads! {
    identity::AccountCreated => "sanshi.identity.v1.AccountCreated",
    identity::AccountUpdated => "sanshi.identity.v1.AccountUpdated",
    identity::RoleGranted => "sanshi.identity.v1.RoleGranted",
    identity::RoleRevoked => "sanshi.identity.v1.RoleRevoked",
    qualification::ProfessionalQualified => "sanshi.qualification.v1.ProfessionalQualified",
    qualification::QualificationSuspended => "sanshi.qualification.v1.QualificationSuspended",
    qualification::QualificationRevoked => "sanshi.qualification.v1.QualificationRevoked",
    qualification::QualificationRenewed => "sanshi.qualification.v1.QualificationRenewed",
    qualification::QualificationExpired => "sanshi.qualification.v1.QualificationExpired",
    qualification::ConsentChanged => "sanshi.qualification.v1.ConsentChanged",
    matching::MatchProposed => "sanshi.matching.v1.MatchProposed",
    matching::MatchConfirmed => "sanshi.matching.v1.MatchConfirmed",
    matching::MatchEnded => "sanshi.matching.v1.MatchEnded",
    matching::MatchSuspended => "sanshi.matching.v1.MatchSuspended",
    matching::MatchResumed => "sanshi.matching.v1.MatchResumed",
    matching::CommunityUpdated => "sanshi.matching.v1.CommunityUpdated",
    matching::NeedSubmitted => "sanshi.matching.v1.NeedSubmitted",
    matching::NeedAssigned => "sanshi.matching.v1.NeedAssigned",
    matching::NeedResolved => "sanshi.matching.v1.NeedResolved",
    matching::NeedEvaluated => "sanshi.matching.v1.NeedEvaluated",
    records::ServiceRecordSubmitted => "sanshi.records.v1.ServiceRecordSubmitted",
    records::ServiceRecordConfirmed => "sanshi.records.v1.ServiceRecordConfirmed",
    records::ServiceRecordAmended => "sanshi.records.v1.ServiceRecordAmended",
    records::ServiceRecordScored => "sanshi.records.v1.ServiceRecordScored",
    incentive::PointsAwarded => "sanshi.incentive.v1.PointsAwarded",
    incentive::StarRatingsChanged => "sanshi.incentive.v1.StarRatingsChanged",
    incentive::ExpertTeamProposed => "sanshi.incentive.v1.ExpertTeamProposed",
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The names must be the real protobuf names: consumers dispatch on them,
    /// and reflection clients decode payloads by them.
    #[test]
    fn names_match_the_descriptor_set() {
        let set = prost_types::FileDescriptorSet::decode(sanshi_proto::FILE_DESCRIPTOR_SET).unwrap();
        let known: Vec<String> = set
            .file
            .iter()
            .flat_map(|f| {
                f.message_type
                    .iter()
                    .map(move |m| format!("{}.{}", f.package(), m.name()))
            })
            .collect();
        for name in [
            <identity::AccountCreated as EventPayload>::TYPE,
            <identity::AccountUpdated as EventPayload>::TYPE,
            <identity::RoleGranted as EventPayload>::TYPE,
            <identity::RoleRevoked as EventPayload>::TYPE,
            <qualification::ProfessionalQualified as EventPayload>::TYPE,
            <qualification::QualificationSuspended as EventPayload>::TYPE,
            <qualification::QualificationRevoked as EventPayload>::TYPE,
            <qualification::QualificationRenewed as EventPayload>::TYPE,
            <qualification::QualificationExpired as EventPayload>::TYPE,
            <qualification::ConsentChanged as EventPayload>::TYPE,
            <matching::MatchProposed as EventPayload>::TYPE,
            <matching::MatchConfirmed as EventPayload>::TYPE,
            <matching::MatchEnded as EventPayload>::TYPE,
            <matching::MatchSuspended as EventPayload>::TYPE,
            <matching::MatchResumed as EventPayload>::TYPE,
            <matching::CommunityUpdated as EventPayload>::TYPE,
            <matching::NeedSubmitted as EventPayload>::TYPE,
            <matching::NeedAssigned as EventPayload>::TYPE,
            <matching::NeedResolved as EventPayload>::TYPE,
            <matching::NeedEvaluated as EventPayload>::TYPE,
            <records::ServiceRecordSubmitted as EventPayload>::TYPE,
            <records::ServiceRecordConfirmed as EventPayload>::TYPE,
            <records::ServiceRecordAmended as EventPayload>::TYPE,
            <records::ServiceRecordScored as EventPayload>::TYPE,
            <incentive::PointsAwarded as EventPayload>::TYPE,
            <incentive::StarRatingsChanged as EventPayload>::TYPE,
            <incentive::ExpertTeamProposed as EventPayload>::TYPE,
        ] {
            assert!(known.iter().any(|k| k == name), "{name}");
        }
    }
}
