//! Records end to end: identity, qualification, matching and records on
//! random ports, on SQLite and on PostgreSQL.

use kit::db::testing::TestDb;
use prost_types::Timestamp;
use sanshi_proto::identity::v1 as id;
use sanshi_proto::matching::v1 as m;
use sanshi_proto::qualification::v1 as q;
use sanshi_proto::records::v1 as pb;
use testkit::{MINSHENGLU, PINGAN, Pro, Stack, bad_fields, code, stack_with_records, t};
use tonic::Code;
use tonic::transport::Channel;

fn ago(minutes: i64) -> Option<Timestamp> {
    Some(kit::grpc::timestamp(
        chrono::Utc::now() - chrono::Duration::minutes(minutes),
    ))
}

fn recs(s: &Stack) -> pb::record_service_client::RecordServiceClient<Channel> {
    pb::record_service_client::RecordServiceClient::new(s.records.clone().expect("records"))
}

fn content(start_ago: i64, end_ago: i64) -> pb::RecordContent {
    pb::RecordContent {
        service_type: "survey".into(),
        start_time: ago(start_ago),
        end_time: ago(end_ago),
        check_in: Some(pb::Location {
            longitude: 106.5815,
            latitude: 29.5527,
        }),
        summary: "走访 5 栋居民，了解加装电梯意愿".into(),
        residents_reached: 12,
        ..Default::default()
    }
}

/// A professional actively matched with 民生路 since yesterday, as records sees it.
async fn matched(s: &Stack, username: &str, serial: u32) -> (String, String, String) {
    let (token, account, _) = s
        .professional(
            Pro {
                username,
                profession: q::Profession::Planner,
                specialties: &["加装电梯"],
                regions: &["500103"],
                lon: 106.577,
                lat: 29.557,
                home: MINSHENGLU,
            },
            serial,
        )
        .await;
    let street = s.login("jiefangbei").await;
    let mut matches = m::match_service_client::MatchServiceClient::new(s.matching.clone());
    let invited = matches
        .invite_professional(t(
            m::InviteProfessionalRequest {
                community_code: MINSHENGLU.into(),
                professional_account_id: account.clone(),
                message: String::new(),
                request_id: String::new(),
            },
            &street,
        ))
        .await
        .unwrap()
        .into_inner();
    matches
        .respond_to_match(t(
            m::RespondToMatchRequest {
                id: invited.id.clone(),
                accept: true,
                message: String::new(),
            },
            &token,
        ))
        .await
        .unwrap();
    let sql = format!("SELECT COUNT(*) FROM match_views WHERE match_id = '{}'", invited.id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.count_records(&sql).await == 0 {
        assert!(std::time::Instant::now() < deadline, "records never saw the match");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The match was confirmed yesterday, so that visits of the last hours fall inside it.
    s.execute_records(&format!(
        "UPDATE match_intervals SET from_at = '{}' WHERE match_id = '{}'",
        (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d %H:%M:%S+00:00"),
        invited.id
    ))
    .await;
    (token, account, invited.id)
}

fn submit(match_id: &str, content: pb::RecordContent, key: &str) -> pb::SubmitRecordRequest {
    pb::SubmitRecordRequest {
        match_id: match_id.into(),
        content: Some(content),
        request_id: key.into(),
    }
}

async fn records_are_validated_confirmed_rated_and_scored(db: TestDb) {
    let s = stack_with_records(db, "", "rating_window_secs = 3\nscoring_sweep_secs = 1").await;
    let (pro, _, match_id) = matched(&s, "pro_a", 1).await;
    let (other, _, _) = matched(&s, "pro_b", 2).await;
    let worker = s.person("worker_msl", id::Role::CommunityWorker, MINSHENGLU).await;
    let dadukou = s.login("dadukou").await;
    let mut r = recs(&s);

    // Validation, every rule with its field.
    assert_eq!(
        bad_fields(r.submit_record(t(submit(&match_id, content(120, 60), ""), &pro)).await),
        ["request_id"]
    );
    assert_eq!(
        code(
            r.submit_record(t(submit(&match_id, content(120, 60), "k0"), &other))
                .await
        ),
        Code::PermissionDenied
    );
    let mut bad = content(60, 120);
    bad.service_type = "tourism".into();
    bad.summary = "短".into();
    bad.check_in = None;
    assert_eq!(
        bad_fields(r.submit_record(t(submit(&match_id, bad, "k1"), &pro)).await),
        [
            "content.service_type",
            "content.end_time",
            "content.summary",
            "content.check_in"
        ]
    );
    assert_eq!(
        bad_fields(r.submit_record(t(submit(&match_id, content(60, 55), "k2"), &pro)).await),
        ["content.end_time"]
    );
    assert_eq!(
        bad_fields(
            r.submit_record(t(submit(&match_id, content(-60, -120), "k3"), &pro))
                .await
        ),
        ["content.end_time"]
    );
    let before_match = content(3 * 24 * 60, 3 * 24 * 60 - 60);
    assert_eq!(
        bad_fields(r.submit_record(t(submit(&match_id, before_match, "k4"), &pro)).await),
        ["match_id"]
    );

    // A valid record; the same key and body again is the same record.
    let first = submit(&match_id, content(180, 120), "visit-1");
    let record = r.submit_record(t(first.clone(), &pro)).await.unwrap().into_inner();
    assert_eq!(record.state, pb::ServiceRecordState::Submitted as i32);
    assert!(!record.far_check_in && record.check_in_distance_km < 3.0);
    assert!(record.distance_km > 0.0 && record.distance_method.starts_with("haversine:base-to-community"));
    let again = r.submit_record(t(first.clone(), &pro)).await.unwrap().into_inner();
    assert_eq!(again.id, record.id);
    let mut changed = first.clone();
    changed.content.as_mut().unwrap().residents_reached = 99;
    assert_eq!(bad_fields(r.submit_record(t(changed, &pro)).await), ["request_id"]);
    // Concurrent duplicates make one record.
    let duplicate = submit(&match_id, content(100, 70), "visit-2");
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (mut r, pro, request) = (r.clone(), pro.clone(), duplicate.clone());
        tasks.push(tokio::spawn(async move {
            r.submit_record(t(request, &pro)).await.map(|r| r.into_inner().id)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        s.count_records("SELECT COUNT(*) FROM records WHERE request_id = 'visit-2'")
            .await,
        1
    );
    // Ten different submissions for one time slot at once: one is accepted,
    // the others overlap it (sequentially the second is refused the same way).
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (mut r, pro, request) = (
            r.clone(),
            pro.clone(),
            submit(&match_id, content(400, 340), &format!("slot-{i}")),
        );
        tasks.push(tokio::spawn(async move { r.submit_record(t(request, &pro)).await }));
    }
    let (mut accepted, mut overlapping) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => accepted += 1,
            refused => {
                assert_eq!(bad_fields(refused), ["content.start_time"]);
                overlapping += 1;
            }
        }
    }
    assert_eq!((accepted, overlapping), (1, 9), "accepted/concurrent");
    assert_eq!(
        s.count_records("SELECT COUNT(*) FROM records WHERE request_id LIKE 'slot-%'")
            .await,
        1
    );
    // Overlap with the first record; a far check-in is flagged, not refused.
    assert_eq!(
        bad_fields(
            r.submit_record(t(submit(&match_id, content(150, 100), "k5"), &pro))
                .await
        ),
        ["content.start_time"]
    );
    let mut far = content(60, 30);
    far.check_in = Some(pb::Location {
        longitude: 106.45,
        latitude: 29.45,
    });
    let flagged = r
        .submit_record(t(submit(&match_id, far, "visit-3"), &pro))
        .await
        .unwrap()
        .into_inner();
    assert!(flagged.far_check_in);
    let far_only = r
        .list_records(t(
            pb::ListRecordsRequest {
                far_check_in_only: true,
                ..Default::default()
            },
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        far_only.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [flagged.id.as_str()]
    );

    // Scope.
    assert_eq!(
        code(
            r.get_record(t(pb::GetRecordRequest { id: record.id.clone() }, &dadukou))
                .await
        ),
        Code::PermissionDenied
    );
    assert_eq!(
        code(
            r.get_record(t(pb::GetRecordRequest { id: record.id.clone() }, &other))
                .await
        ),
        Code::PermissionDenied
    );

    // Dispute, correction, confirmation.
    let dispute = |reason: &str| pb::DisputeRecordRequest {
        id: record.id.clone(),
        reason: reason.into(),
    };
    assert_eq!(
        code(r.dispute_record(t(dispute("时间不对"), &pro)).await),
        Code::PermissionDenied
    );
    assert_eq!(bad_fields(r.dispute_record(t(dispute(""), &worker)).await), ["reason"]);
    let disputed = r
        .dispute_record(t(dispute("结束时间应为 14:00"), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(disputed.state, pb::ServiceRecordState::Disputed as i32);
    let confirm = pb::ConfirmRecordRequest { id: record.id.clone() };
    assert_eq!(
        code(r.confirm_record(t(confirm.clone(), &worker)).await),
        Code::FailedPrecondition
    );
    let corrected = r
        .resubmit_record(t(
            pb::ResubmitRecordRequest {
                id: record.id.clone(),
                content: Some(content(180, 130)),
            },
            &pro,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (corrected.state, corrected.version),
        (pb::ServiceRecordState::Submitted as i32, 2)
    );
    let confirmed = r
        .confirm_record(t(confirm.clone(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.state, pb::ServiceRecordState::Confirmed as i32);
    assert!(confirmed.rating_closes_time.is_some());
    // A confirmation retried after its answer was lost, alone and several at
    // once, answers the confirmed record and changes nothing.
    let retried = r
        .confirm_record(t(confirm.clone(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (retried.state, retried.version, retried.rating_closes_time),
        (confirmed.state, confirmed.version, confirmed.rating_closes_time)
    );
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (mut r, worker, request) = (r.clone(), worker.clone(), confirm.clone());
        tasks.push(tokio::spawn(async move {
            r.confirm_record(t(request, &worker))
                .await
                .map(|r| r.into_inner().state)
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), pb::ServiceRecordState::Confirmed as i32);
    }
    let confirmations = format!(
        "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.records.v1.ServiceRecordConfirmed' \
         AND aggregate_id = '{}'",
        record.id
    );
    assert_eq!(s.count_records(&confirmations).await, 1, "confirmed once");
    let redisputed = r.dispute_record(t(dispute("再次异议"), &worker)).await;
    assert_eq!(
        code(redisputed),
        Code::FailedPrecondition,
        "a confirmed record is not disputed"
    );

    // Confirmed is immutable: only an amendment changes it.
    assert_eq!(
        code(
            r.resubmit_record(t(
                pb::ResubmitRecordRequest {
                    id: record.id.clone(),
                    content: Some(content(180, 125))
                },
                &pro
            ))
            .await
        ),
        Code::FailedPrecondition
    );
    let amend = |reason: &str| pb::AmendRecordRequest {
        id: record.id.clone(),
        content: Some(pb::RecordContent {
            residents_reached: 30,
            ..content(180, 130)
        }),
        reason: reason.into(),
    };
    assert_eq!(bad_fields(r.amend_record(t(amend(""), &pro)).await), ["reason"]);
    let proposed = r
        .amend_record(t(amend("居民人数少算了"), &pro))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(proposed.content.as_ref().unwrap().residents_reached, 12);
    assert_eq!(proposed.pending_amendment.as_ref().unwrap().residents_reached, 30);
    let accepted = r
        .decide_amendment(t(
            pb::DecideAmendmentRequest {
                id: record.id.clone(),
                accept: true,
                reason: String::new(),
            },
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (accepted.version, accepted.content.as_ref().unwrap().residents_reached),
        (3, 30)
    );
    assert!(accepted.pending_amendment.is_none());
    let actions: Vec<&str> = accepted.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "submitted",
            "disputed",
            "resubmitted",
            "confirmed",
            "amendment_proposed",
            "amendment_accepted"
        ]
    );

    // Ratings: the community once; residents by code, once per contact.
    let rate = |stars| pb::RateRecordRequest {
        id: record.id.clone(),
        rating: stars,
        comment: "认真负责".into(),
    };
    assert_eq!(bad_fields(r.rate_record(t(rate(0), &worker)).await), ["rating"]);
    r.rate_record(t(rate(5), &worker)).await.unwrap();
    assert_eq!(code(r.rate_record(t(rate(4), &worker)).await), Code::FailedPrecondition);
    let issued = r
        .issue_rating_code(t(
            pb::IssueRatingCodeRequest {
                record_id: record.id.clone(),
            },
            &pro,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(issued.code.len(), 8);
    let resident = |contact: &str, stars| pb::SubmitResidentRatingRequest {
        code: issued.code.to_lowercase(),
        contact: contact.into(),
        rating: stars,
        comment: String::new(),
    };
    let mut public = recs(&s);
    let first = public
        .submit_resident_rating(resident("13911112222", 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.rating_count, 1);
    public.submit_resident_rating(resident("13911113333", 5)).await.unwrap();
    assert_eq!(
        code(public.submit_resident_rating(resident("139 1111 2222", 1)).await),
        Code::AlreadyExists
    );
    assert_eq!(
        bad_fields(public.submit_resident_rating(resident("12", 9)).await),
        ["contact", "rating"]
    );
    let wrong = pb::SubmitResidentRatingRequest {
        code: "NOPE2345".into(),
        ..resident("13911114444", 3)
    };
    assert_eq!(bad_fields(public.submit_resident_rating(wrong).await), ["code"]);
    // A resident's phone is kept only as a keyed hash.
    assert_eq!(
        s.count_records("SELECT COUNT(*) FROM resident_ratings WHERE contact_hash LIKE '%1391111%'")
            .await,
        0
    );

    // The window closes: scored, published, closed to ratings.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = r
            .get_record(t(pb::GetRecordRequest { id: record.id.clone() }, &worker))
            .await
            .unwrap()
            .into_inner();
        if got.state == pb::ServiceRecordState::Scored as i32 {
            assert_eq!((got.resident_rating_count, got.resident_rating_average), (2, 4.5));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never scored");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        code(public.submit_resident_rating(resident("13911115555", 5)).await),
        Code::FailedPrecondition
    );
    // The community's figures: its worker's own region by default; not another's.
    let stats = r
        .get_record_stats(t(pb::GetRecordStatsRequest::default(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.region_code, MINSHENGLU);
    assert!(
        stats.records_this_year >= 1 && stats.confirmed_this_year >= 1,
        "{stats:?}"
    );
    assert_eq!((stats.community_ratings, stats.average_community_rating), (1, 5.0));
    assert_eq!((stats.resident_ratings, stats.average_resident_rating), (2, 4.5));
    let other = pb::GetRecordStatsRequest {
        region_code: PINGAN.into(),
    };
    assert_eq!(
        code(r.get_record_stats(t(other, &worker)).await),
        Code::PermissionDenied
    );
    // Amended after scoring: scored again under the new version, so that
    // incentive's points follow the record.
    r.amend_record(t(
        pb::AmendRecordRequest {
            id: record.id.clone(),
            content: Some(pb::RecordContent {
                residents_reached: 40,
                ..content(180, 130)
            }),
            reason: "补充到场居民".into(),
        },
        &pro,
    ))
    .await
    .unwrap();
    let rescored = r
        .decide_amendment(t(
            pb::DecideAmendmentRequest {
                id: record.id.clone(),
                accept: true,
                reason: String::new(),
            },
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (rescored.state, rescored.version),
        (pb::ServiceRecordState::Scored as i32, 4)
    );
    for (event, n) in [
        // visit-1, visit-2, visit-3 and the one slot-* record that was accepted
        ("ServiceRecordSubmitted", 4),
        ("ServiceRecordConfirmed", 1),
        ("ServiceRecordAmended", 2),
        ("ServiceRecordScored", 2),
    ] {
        let sql = format!("SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.records.v1.{event}'");
        assert_eq!(s.count_records(&sql).await, n, "{event}");
    }
}

async fn attachments_round_trip_within_limits(db: TestDb) {
    let s = stack_with_records(db, "", "").await;
    let (pro, _, match_id) = matched(&s, "pro_a", 3).await;
    let worker = s.person("worker_msl", id::Role::CommunityWorker, MINSHENGLU).await;
    let dadukou = s.login("dadukou").await;
    let mut a = pb::attachment_service_client::AttachmentServiceClient::new(s.records.clone().unwrap());
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain((0..1000u32).map(|i| (i % 251) as u8))
        .collect();
    let upload = |content: Vec<u8>, content_type: &str| pb::UploadAttachmentRequest {
        file_name: "现场照片.png".into(),
        content_type: content_type.into(),
        content,
    };
    let stored = a
        .upload_attachment(t(upload(png.clone(), "image/png"), &pro))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.size_bytes, png.len() as i64);
    use sha2::Digest;
    assert_eq!(stored.sha256, kit::pii::hex(&sha2::Sha256::digest(&png)));
    assert_eq!(
        bad_fields(a.upload_attachment(t(upload(vec![0; 70_000], "image/png"), &pro)).await),
        ["content"]
    );
    assert_eq!(
        bad_fields(
            a.upload_attachment(t(upload(png.clone(), "application/x-msdownload"), &pro))
                .await
        ),
        ["content_type"]
    );
    let get = pb::GetAttachmentRequest { id: stored.id.clone() };
    assert_eq!(
        a.get_attachment(t(get.clone(), &pro))
            .await
            .unwrap()
            .into_inner()
            .content,
        png
    );
    // The community sees it once a record uses it; others never.
    assert_eq!(
        code(a.get_attachment(t(get.clone(), &worker)).await),
        Code::PermissionDenied
    );
    let mut with_photo = content(180, 120);
    with_photo.attachment_ids = vec![stored.id.clone()];
    recs(&s)
        .submit_record(t(submit(&match_id, with_photo, "photo"), &pro))
        .await
        .unwrap();
    assert_eq!(
        a.get_attachment(t(get.clone(), &worker))
            .await
            .unwrap()
            .into_inner()
            .content,
        png
    );
    assert_eq!(code(a.get_attachment(t(get, &dadukou)).await), Code::PermissionDenied);
    // Only one's own uploads can be attached.
    let others = a
        .upload_attachment(t(upload(png, "image/png"), &worker))
        .await
        .unwrap()
        .into_inner();
    let mut foreign = content(100, 60);
    foreign.attachment_ids = vec![others.id];
    assert_eq!(
        bad_fields(
            recs(&s)
                .submit_record(t(submit(&match_id, foreign, "foreign"), &pro))
                .await
        ),
        ["content.attachment_ids[0]"]
    );
}

async fn surveys_and_the_wellbeing_index(db: TestDb) {
    let s = stack_with_records(db, "", "").await;
    let worker = s.person("worker_msl", id::Role::CommunityWorker, MINSHENGLU).await;
    let street = s.login("jiefangbei").await;
    let outsider = s.person("resident_pingan", id::Role::Resident, PINGAN).await;
    let mut sv = pb::survey_service_client::SurveyServiceClient::new(s.records.clone().unwrap());
    let question = |id: &str, kind: pb::QuestionKind, options: &[&str]| pb::Question {
        id: id.into(),
        kind: kind as i32,
        text: "您的意见".into(),
        options: options.iter().map(|o| o.to_string()).collect(),
        dimension: String::new(),
    };
    let opinion = pb::CreateSurveyRequest {
        kind: pb::SurveyKind::Opinion as i32,
        title: "5 栋加装电梯意见征集".into(),
        region_code: MINSHENGLU.into(),
        questions: vec![
            question("agree", pb::QuestionKind::SingleChoice, &["同意", "不同意"]),
            question("why", pb::QuestionKind::Text, &[]),
        ],
        ..Default::default()
    };
    let bad = pb::CreateSurveyRequest {
        questions: vec![question("agree", pb::QuestionKind::SingleChoice, &["同意"])],
        ..opinion.clone()
    };
    assert_eq!(
        bad_fields(sv.create_survey(t(bad, &worker)).await),
        ["questions[0].options"]
    );
    assert_eq!(
        code(
            sv.create_survey(t(
                pb::CreateSurveyRequest {
                    region_code: PINGAN.into(),
                    ..opinion.clone()
                },
                &worker
            ))
            .await
        ),
        Code::PermissionDenied
    );
    let survey = sv.create_survey(t(opinion, &worker)).await.unwrap().into_inner();
    let answer = |q: &str, choices: &[&str], scale, text: &str| pb::Answer {
        question_id: q.into(),
        choices: choices.iter().map(|c| c.to_string()).collect(),
        scale,
        text: text.into(),
    };
    let submit = |answers: Vec<pb::Answer>| pb::SubmitAnswersRequest {
        survey_id: survey.id.clone(),
        answers,
    };
    for (i, choice) in ["同意", "同意", "不同意"].into_iter().enumerate() {
        let resident = s.person(&format!("resident_{i}"), id::Role::Resident, MINSHENGLU).await;
        sv.submit_answers(t(
            submit(vec![answer("agree", &[choice], 0, ""), answer("why", &[], 0, "老人多")]),
            &resident,
        ))
        .await
        .unwrap();
        if i == 0 {
            assert_eq!(
                code(
                    sv.submit_answers(t(submit(vec![answer("agree", &["同意"], 0, "")]), &resident))
                        .await
                ),
                Code::AlreadyExists
            );
            assert_eq!(
                bad_fields(
                    sv.submit_answers(t(submit(vec![answer("agree", &["也许"], 0, "")]), &resident))
                        .await
                ),
                ["answers[0].choices"]
            );
        }
    }
    assert_eq!(
        code(
            sv.submit_answers(t(submit(vec![answer("agree", &["同意"], 0, "")]), &outsider))
                .await
        ),
        Code::PermissionDenied
    );
    let results = sv
        .get_survey_results(t(
            pb::GetSurveyResultsRequest {
                survey_id: survey.id.clone(),
                region_code: String::new(),
            },
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(results.respondents, 3);
    assert_eq!(results.questions[0].choice_counts.get("同意"), Some(&2));
    assert_eq!(results.questions[1].texts.len(), 3);

    // The wellbeing index: two periods, two communities of 解放碑.
    let wellbeing = |period: &str| pb::CreateSurveyRequest {
        kind: pb::SurveyKind::Wellbeing as i32,
        title: format!("{period} 美好社区指数调查"),
        region_code: "500103003".into(),
        period: period.into(),
        ..Default::default()
    };
    assert_eq!(
        bad_fields(sv.create_survey(t(wellbeing("2026 秋"), &street)).await),
        ["period"]
    );
    let q3 = sv
        .create_survey(t(wellbeing("2026Q3"), &street))
        .await
        .unwrap()
        .into_inner();
    let q4 = sv
        .create_survey(t(wellbeing("2026Q4"), &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(q4.questions.len(), 12);
    // Every scale answer of a respondent is `score`: sub-indices are (score − 1) / 4 × 100.
    let all = |score: i32| -> Vec<pb::Answer> { q4.questions.iter().map(|q| answer(&q.id, &[], score, "")).collect() };
    let mut n = 0;
    for (survey_id, community, scores) in [
        (&q3.id, MINSHENGLU, vec![3]),
        (&q4.id, MINSHENGLU, vec![5, 4]),
        (&q4.id, "500103003016", vec![2]),
    ] {
        for score in scores {
            n += 1;
            let resident = s.person(&format!("wb_{n}"), id::Role::Resident, community).await;
            sv.submit_answers(t(
                pb::SubmitAnswersRequest {
                    survey_id: survey_id.clone(),
                    answers: all(score),
                },
                &resident,
            ))
            .await
            .unwrap();
        }
    }
    let index = sv
        .get_wellbeing_index(t(
            pb::GetWellbeingIndexRequest {
                region_code: "500103003".into(),
            },
            &street,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!index.method.is_empty());
    let periods: Vec<(&str, i32)> = index
        .periods
        .iter()
        .map(|p| (p.period.as_str(), p.respondents))
        .collect();
    assert_eq!(periods, [("2026Q3", 1), ("2026Q4", 3)]);
    assert!((index.periods[0].index - 50.0).abs() < 1e-9);
    // 民生路: (5+4)/2 = 4.5 → 87.5 with 2 respondents; 莲花池: 2 → 25 with 1: (87.5·2 + 25) / 3.
    let expected = (87.5 * 2.0 + 25.0) / 3.0;
    assert!(
        (index.periods[1].index - expected).abs() < 1e-9,
        "{}",
        index.periods[1].index
    );
    assert!(
        index.periods[1]
            .sub_indices
            .iter()
            .all(|d| (d.value - expected).abs() < 1e-9)
    );
    let community = sv
        .get_wellbeing_index(t(
            pb::GetWellbeingIndexRequest {
                region_code: MINSHENGLU.into(),
            },
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!((community.periods[1].index - 87.5).abs() < 1e-9);
    assert_eq!(
        code(
            sv.get_wellbeing_index(t(
                pb::GetWellbeingIndexRequest {
                    region_code: "500103003".into()
                },
                &worker
            ))
            .await
        ),
        Code::PermissionDenied
    );
}

kit::db_tests!(
    records_are_validated_confirmed_rated_and_scored,
    attachments_round_trip_within_limits,
    surveys_and_the_wellbeing_index
);
