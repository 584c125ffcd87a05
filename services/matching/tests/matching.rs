//! Matching end to end: real identity, qualification and matching services
//! on random ports, on SQLite and on PostgreSQL.

use kit::db::testing::TestDb;
use sanshi_proto::identity::v1 as id;
use sanshi_proto::matching::v1 as pb;
use sanshi_proto::qualification::v1 as q;
use testkit::{LIANHUACHI, MINSHENGLU, PINGAN, Pro, bad_fields, code, stack, t};
use tonic::Code;

const ZOURONGLU: &str = "500103003017";

fn planner<'a>(username: &'a str, regions: &'a [&'a str]) -> Pro<'a> {
    Pro {
        username,
        profession: q::Profession::Planner,
        specialties: &["加装电梯", "城市更新"],
        regions,
        lon: 106.577,
        lat: 29.557,
        home: MINSHENGLU,
    }
}

fn invite(community: &str, professional: &str, request_id: &str) -> pb::InviteProfessionalRequest {
    pb::InviteProfessionalRequest {
        community_code: community.into(),
        professional_account_id: professional.into(),
        message: "欢迎来社区指导加装电梯".into(),
        request_id: request_id.into(),
    }
}

fn apply(community: &str) -> pb::ApplyToCommunityRequest {
    pb::ApplyToCommunityRequest {
        community_code: community.into(),
        message: "我住在附近，愿意服务".into(),
        request_id: String::new(),
    }
}

fn respond(id: &str, accept: bool) -> pb::RespondToMatchRequest {
    pb::RespondToMatchRequest {
        id: id.into(),
        accept,
        message: String::new(),
    }
}

async fn two_way_matching_capacity_and_scope(db: TestDb) {
    let s = stack(db, "").await;
    let (a, a_id, _) = s.professional(planner("pro_a", &["500103"]), 1).await;
    let (b, b_id, _) = s
        .professional(
            Pro {
                home: PINGAN,
                ..planner("pro_b", &["500104"])
            },
            2,
        )
        .await;
    let worker = s.person("worker_msl", id::Role::CommunityWorker, MINSHENGLU).await;
    let street = s.login("jiefangbei").await;
    let dadukou = s.login("dadukou").await;
    let mut m = s.matches();

    // Only the community's side invites.
    assert_eq!(
        code(m.invite_professional(t(invite(MINSHENGLU, &a_id, ""), &dadukou)).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(m.invite_professional(t(invite(MINSHENGLU, &a_id, ""), &a)).await),
        Code::PermissionDenied
    );
    // A professional is invited only where they serve.
    assert_eq!(
        code(m.invite_professional(t(invite(MINSHENGLU, &b_id, ""), &worker)).await),
        Code::FailedPrecondition
    );

    // Invitation: pending until the professional confirms; a retry with the same key is the same invitation.
    let first = m
        .invite_professional(t(invite(MINSHENGLU, &a_id, "inv-1"), &worker))
        .await
        .unwrap()
        .into_inner();
    let again = m
        .invite_professional(t(invite(MINSHENGLU, &a_id, "inv-1"), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, again.id);
    assert_eq!(first.state, pb::MatchState::Pending as i32);
    // One MatchProposed for the invitation (notification tells the professional), not two.
    assert_eq!(
        s.count("SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.matching.v1.MatchProposed'")
            .await,
        1
    );
    assert!(
        first.distance_km > 0.0 && first.distance_km < 10.0,
        "{}",
        first.distance_km
    );
    assert_eq!(
        code(
            m.invite_professional(t(invite(MINSHENGLU, &a_id, "inv-2"), &worker))
                .await
        ),
        Code::AlreadyExists
    );
    // The inviting side cannot confirm its own invitation.
    assert_eq!(
        code(m.respond_to_match(t(respond(&first.id, true), &worker)).await),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(m.respond_to_match(t(respond(&first.id, true), &b)).await),
        Code::PermissionDenied
    );
    let active = m
        .respond_to_match(t(respond(&first.id, true), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(active.state, pb::MatchState::Active as i32);
    assert!(active.confirm_time.is_some() && active.respond_time.is_some());
    assert_eq!(
        s.count("SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.matching.v1.MatchConfirmed'")
            .await,
        1
    );

    // Application: the professional proposes, the street confirms.
    let applied = m
        .apply_to_community(t(apply(LIANHUACHI), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(applied.initiated_by, pb::MatchSide::Professional as i32);
    assert_eq!(
        code(m.respond_to_match(t(respond(&applied.id, true), &a)).await),
        Code::FailedPrecondition
    );
    let confirmed = m
        .respond_to_match(t(respond(&applied.id, true), &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(confirmed.state, pb::MatchState::Active as i32);

    // Capacity: at 2 of 2 the professional can neither apply nor accept.
    let me = s
        .professionals()
        .update_availability(t(
            pb::UpdateAvailabilityRequest {
                capacity: 2,
                available: true,
            },
            &a,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((me.capacity, me.active_matches), (2, 2));
    assert_eq!(
        code(m.apply_to_community(t(apply(ZOURONGLU), &a)).await),
        Code::FailedPrecondition
    );
    let third = m
        .invite_professional(t(invite(ZOURONGLU, &a_id, ""), &street))
        .await
        .unwrap()
        .into_inner();
    let full = m.respond_to_match(t(respond(&third.id, true), &a)).await.unwrap_err();
    assert_eq!(full.code(), Code::FailedPrecondition);
    assert!(full.message().contains("上限"), "{}", full.message());
    let declined = m
        .respond_to_match(t(respond(&third.id, false), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(declined.state, pb::MatchState::Declined as i32);
    assert_eq!(
        code(
            s.professionals()
                .update_availability(t(
                    pb::UpdateAvailabilityRequest {
                        capacity: 99,
                        available: true
                    },
                    &a
                ))
                .await
        ),
        Code::InvalidArgument
    );

    // Ending needs a reason.
    let no_reason = m
        .end_match(t(
            pb::EndMatchRequest {
                id: first.id.clone(),
                reason: " ".into(),
            },
            &worker,
        ))
        .await;
    assert_eq!(bad_fields(no_reason), ["reason"]);
    let ended = m
        .end_match(t(
            pb::EndMatchRequest {
                id: first.id.clone(),
                reason: "项目已完成".into(),
            },
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.state, pb::MatchState::Ended as i32);
    assert_eq!(ended.ended_by, pb::MatchSide::Community as i32);
    assert_eq!(
        s.count("SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.matching.v1.MatchEnded'")
            .await,
        1
    );

    // Scope: B serves 500104 only.
    assert_eq!(
        code(m.apply_to_community(t(apply(MINSHENGLU), &b)).await),
        Code::FailedPrecondition
    );
    let mut c = s.communities();
    let mine = c
        .clone()
        .list_communities(t(
            pb::ListCommunitiesRequest {
                page_size: 500,
                ..Default::default()
            },
            &b,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(mine.total_size > 0 && mine.communities.iter().all(|c| c.code.starts_with("500104")));
    // Search text is literal: LIKE's wildcards find only themselves.
    let search = |query: &str| pb::ListCommunitiesRequest {
        page_size: 500,
        query: query.into(),
        ..Default::default()
    };
    let named = &mine.communities[0].name;
    let found = c
        .clone()
        .list_communities(t(search(named), &b))
        .await
        .unwrap()
        .into_inner();
    assert!(found.communities.iter().any(|c| &c.name == named));
    for wildcard in ["%", "_", "\\", "社区%"] {
        let none = c
            .clone()
            .list_communities(t(search(wildcard), &b))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(none.total_size, 0, "{wildcard}");
    }
    assert_eq!(
        code(
            c.clone()
                .get_community(t(
                    pb::GetCommunityRequest {
                        code: MINSHENGLU.into()
                    },
                    &b
                ))
                .await
        ),
        Code::PermissionDenied
    );
    let b_matches = m
        .list_matches(t(pb::ListMatchesRequest::default(), &b))
        .await
        .unwrap()
        .into_inner();
    assert!(b_matches.matches.is_empty());
    let a_matches = m
        .list_matches(t(pb::ListMatchesRequest::default(), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a_matches.matches.len(), 3);
    let worker_view = m
        .list_matches(t(pb::ListMatchesRequest::default(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert!(worker_view.matches.iter().all(|m| m.community_code == MINSHENGLU));
    assert_eq!(
        code(
            m.get_match(t(pb::GetMatchRequest { id: applied.id.clone() }, &dadukou))
                .await
        ),
        Code::PermissionDenied
    );

    // The profile: the community's side maintains it; the contact phone is
    // shown in full to its side and to professionals matched with it.
    let profile = pb::CommunityProfile {
        households: 1800,
        year_built: 1992,
        over_60_percent: 34,
        renovation_status: pb::RenovationStatus::Renovating as i32,
        tags: vec!["加装电梯".into(), "适老化".into()],
        contact_name: "李主任".into(),
        contact_phone: "13900001111".into(),
        demand: 3,
    };
    let update = |code: &str, profile: pb::CommunityProfile| pb::UpdateCommunityProfileRequest {
        code: code.into(),
        profile: Some(profile),
        location: None,
        request_id: String::new(),
    };
    assert_eq!(
        code(
            c.clone()
                .update_community_profile(t(update(LIANHUACHI, profile.clone()), &worker))
                .await
        ),
        Code::PermissionDenied
    );
    let bad = pb::CommunityProfile {
        over_60_percent: 140,
        tags: vec!["游泳池".into()],
        ..profile.clone()
    };
    assert_eq!(
        bad_fields(
            c.clone()
                .update_community_profile(t(update(LIANHUACHI, bad), &street))
                .await
        ),
        ["profile.over_60_percent", "profile.tags[0]"]
    );
    c.clone()
        .update_community_profile(t(update(LIANHUACHI, profile), &street))
        .await
        .unwrap();
    let seen_by_a = c
        .clone()
        .get_community(t(
            pb::GetCommunityRequest {
                code: LIANHUACHI.into(),
            },
            &a,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen_by_a.profile.unwrap().contact_phone, "13900001111");
    let pro_c = s.professional(planner("pro_c", &["500103"]), 3).await.0;
    let seen_by_c = c
        .clone()
        .get_community(t(
            pb::GetCommunityRequest {
                code: LIANHUACHI.into(),
            },
            &pro_c,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen_by_c.profile.unwrap().contact_phone, "139****1111");
    assert_eq!(seen_by_c.active_matches, 1);
    let tagged = c
        .list_communities(t(
            pb::ListCommunitiesRequest {
                tag: "适老化".into(),
                ..Default::default()
            },
            &street,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        tagged.communities.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(),
        [LIANHUACHI]
    );
}

async fn expiry_response_times_and_suspension(db: TestDb) {
    let s = stack(db, "offer_ttl_secs = 1\nexpiry_sweep_secs = 1").await;
    let (a, a_id, application) = s.professional(planner("pro_a", &["500103"]), 4).await;
    let street = s.login("jiefangbei").await;
    let mut m = s.matches();

    let late = m
        .invite_professional(t(invite(MINSHENGLU, &a_id, ""), &street))
        .await
        .unwrap()
        .into_inner();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let err = m.respond_to_match(t(respond(&late.id, true), &a)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("过期"), "{}", err.message());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = m
            .get_match(t(pb::GetMatchRequest { id: late.id.clone() }, &street))
            .await
            .unwrap()
            .into_inner();
        if got.state == pb::MatchState::Expired as i32 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let me = s.wait_professional(&a, pb::ProfessionalStatus::Active).await;
    assert_eq!(me.response_stats.unwrap().expired_unanswered, 1);

    // Answered in time: the response time is recorded for the answering side.
    let on_time = m
        .invite_professional(t(invite(MINSHENGLU, &a_id, ""), &street))
        .await
        .unwrap()
        .into_inner();
    m.respond_to_match(t(respond(&on_time.id, true), &a)).await.unwrap();
    let me = s.wait_professional(&a, pb::ProfessionalStatus::Active).await;
    let stats = me.response_stats.unwrap();
    assert_eq!((stats.answered, stats.expired_unanswered), (1, 1));
    assert!(stats.mean_response_hours < 0.01);
    // Slowest responders first, for the admins.
    let slow = s
        .professionals()
        .list_professionals(t(
            pb::ListProfessionalsRequest {
                slowest_response_first: true,
                ..Default::default()
            },
            &street,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(slow.professionals.len(), 1);

    // Suspension in qualification suspends the match; reinstatement resumes it.
    s.decide(&application, q::Decision::Suspend).await;
    s.wait_professional(&a, pb::ProfessionalStatus::Suspended).await;
    let suspended = m
        .get_match(t(pb::GetMatchRequest { id: on_time.id.clone() }, &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(suspended.state, pb::MatchState::Suspended as i32);
    assert_eq!(
        code(m.apply_to_community(t(apply(LIANHUACHI), &a)).await),
        Code::FailedPrecondition
    );
    s.decide(&application, q::Decision::Reinstate).await;
    s.wait_professional(&a, pb::ProfessionalStatus::Active).await;
    let resumed = m
        .get_match(t(pb::GetMatchRequest { id: on_time.id.clone() }, &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.state, pb::MatchState::Active as i32);
    assert_eq!(
        s.count("SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.matching.v1.MatchSuspended'")
            .await,
        1
    );
}

async fn recommendations_show_their_factors(db: TestDb) {
    let s = stack(db, "").await;
    let near = Pro {
        username: "near",
        profession: q::Profession::Engineer,
        specialties: &["加装电梯", "建筑结构安全"],
        regions: &["500103"],
        lon: 106.58,
        lat: 29.56,
        home: MINSHENGLU,
    };
    let far = Pro {
        username: "far",
        profession: q::Profession::Architect,
        specialties: &["景观设计"],
        regions: &["500103", "500104"],
        lon: 106.45,
        lat: 29.45,
        home: MINSHENGLU,
    };
    let (_, near_id, _) = s.professional(near, 5).await;
    let (far_token, far_id, _) = s.professional(far, 6).await;
    let street = s.login("jiefangbei").await;
    let profile = pb::CommunityProfile {
        tags: vec!["加装电梯".into()],
        ..Default::default()
    };
    let community = s
        .communities()
        .update_community_profile(t(
            pb::UpdateCommunityProfileRequest {
                code: MINSHENGLU.into(),
                profile: Some(profile),
                location: Some(pb::Location {
                    longitude: 106.578,
                    latitude: 29.558,
                }),
                request_id: String::new(),
            },
            &street,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!community.location_synthetic);
    let ranked = s
        .matches()
        .recommend_professionals(t(
            pb::RecommendProfessionalsRequest {
                community_code: MINSHENGLU.into(),
                limit: 0,
            },
            &street,
        ))
        .await
        .unwrap()
        .into_inner()
        .recommendations;
    assert_eq!(
        ranked.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [near_id.as_str(), far_id.as_str()]
    );
    let top = &ranked[0];
    let names: Vec<&str> = top.factors.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["distance", "specialty_fit", "star_rating", "load", "responsiveness"]
    );
    let sum: f64 = top.factors.iter().map(|f| f.contribution).sum();
    assert!((sum - top.score).abs() < 1e-9);
    let km = matching::domain::geo::haversine_km(106.58, 29.56, 106.578, 29.558);
    assert!((top.distance_km - km).abs() < 1e-9);
    assert!((top.factors[0].value - (1.0 - km / 20.0)).abs() < 1e-9);
    // Both wanted specialties of 加装电梯 (加装电梯, 建筑结构安全) fit.
    assert_eq!(top.factors[1].value, 1.0);
    assert_eq!(ranked[1].factors[1].value, 0.0);

    // For a professional: communities of their service regions only.
    let for_far = s
        .matches()
        .recommend_communities(t(
            pb::RecommendCommunitiesRequest {
                professional_account_id: "me".into(),
                limit: 5,
            },
            &far_token,
        ))
        .await
        .unwrap()
        .into_inner()
        .recommendations;
    assert_eq!(for_far.len(), 5);
    assert!(for_far.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(
        code(
            s.matches()
                .recommend_professionals(t(
                    pb::RecommendProfessionalsRequest {
                        community_code: MINSHENGLU.into(),
                        limit: 0
                    },
                    &far_token
                ))
                .await
        ),
        Code::PermissionDenied
    );
}

async fn needs_closed_loop(db: TestDb) {
    let s = stack(db, "").await;
    let (a, a_id, _) = s.professional(planner("pro_a", &["500103"]), 7).await;
    let (_, b_id, _) = s.professional(planner("pro_b", &["500103"]), 8).await;
    let resident = s.person("resident_msl", id::Role::Resident, MINSHENGLU).await;
    let outsider = s.person("resident_pingan", id::Role::Resident, PINGAN).await;
    let worker = s.person("worker_msl", id::Role::CommunityWorker, MINSHENGLU).await;
    let mut n = s.needs();
    let categories = n
        .list_need_categories(t(pb::ListNeedCategoriesRequest {}, &resident))
        .await
        .unwrap()
        .into_inner();
    assert!(
        categories
            .categories
            .iter()
            .any(|c| c.code == "elevator" && c.sla_days == 30)
    );

    let bad = pb::SubmitNeedRequest {
        community_code: MINSHENGLU.into(),
        category_code: "spaceport".into(),
        description: "短".into(),
        media_urls: vec!["ftp://x".into()],
        ..Default::default()
    };
    assert_eq!(
        bad_fields(n.submit_need(t(bad, &resident)).await),
        ["category_code", "description", "media_urls[0]"]
    );
    let submit = pb::SubmitNeedRequest {
        community_code: MINSHENGLU.into(),
        category_code: "elevator".into(),
        description: "5栋老人多，希望加装电梯，请专业人员评估可行性".into(),
        location: Some(pb::Location {
            longitude: 106.578,
            latitude: 29.558,
        }),
        address: "民生路 5 栋".into(),
        media_urls: vec!["https://img.example.cn/5.jpg".into()],
        contact_consent: true,
        request_id: "need-1".into(),
        ..Default::default()
    };
    assert_eq!(
        code(n.submit_need(t(submit.clone(), &outsider)).await),
        Code::PermissionDenied
    );
    let need = n.submit_need(t(submit.clone(), &resident)).await.unwrap().into_inner();
    assert_eq!(
        n.submit_need(t(submit, &resident)).await.unwrap().into_inner().id,
        need.id
    );
    assert_eq!(need.state, pb::NeedState::Submitted as i32);
    assert!(need.agency_responsible.contains("解放碑街道"));
    // The region's figures: the district's real communities, and the need.
    let yuzhong = s.login("yuzhong").await;
    let stats_of = |region: &str| pb::GetMatchingStatsRequest {
        region_code: region.into(),
    };
    let mut m = s.matches();
    let stats = m
        .get_matching_stats(t(stats_of("500103"), &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.communities, 80, "渝中区's communities");
    assert_eq!(
        stats.needs_by_state,
        [pb::NeedStateCount {
            state: pb::NeedState::Submitted as i32,
            count: 1
        }]
    );
    assert_eq!(stats.overdue_needs, 0);
    let street = m.get_matching_stats(t(stats_of("500103003"), &worker)).await;
    assert_eq!(
        code(street),
        Code::PermissionDenied,
        "a community worker sees only the community"
    );
    let own = m
        .get_matching_stats(t(stats_of(""), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((own.region_code.as_str(), own.communities), (MINSHENGLU, 1));
    let expected = need.expected_time.unwrap().seconds - need.request_time.unwrap().seconds;
    assert_eq!(expected, 30 * 24 * 3600);

    let status = |action: pb::NeedAction, note: &str| pb::UpdateNeedStatusRequest {
        id: need.id.clone(),
        action: action as i32,
        note: note.into(),
        ..Default::default()
    };
    // The resident cannot triage; a note is required; an illegal transition is refused.
    assert_eq!(
        code(
            n.update_need_status(t(status(pb::NeedAction::Triage, "收到"), &resident))
                .await
        ),
        Code::PermissionDenied
    );
    assert_eq!(
        bad_fields(
            n.update_need_status(t(status(pb::NeedAction::Triage, ""), &worker))
                .await
        ),
        ["note"]
    );
    assert_eq!(
        code(
            n.update_need_status(t(status(pb::NeedAction::Resolve, "好了"), &worker))
                .await
        ),
        Code::FailedPrecondition
    );
    n.update_need_status(t(status(pb::NeedAction::Triage, "已受理，将安排专业人员"), &worker))
        .await
        .unwrap();

    // Assignment needs a professional matched with the community.
    let street = s.login("jiefangbei").await;
    let invited = s
        .matches()
        .invite_professional(t(invite(MINSHENGLU, &a_id, ""), &street))
        .await
        .unwrap()
        .into_inner();
    s.matches()
        .respond_to_match(t(respond(&invited.id, true), &a))
        .await
        .unwrap();
    let mut assign = status(pb::NeedAction::Assign, "派给王工");
    assign.assignee_professional_account_id = b_id.clone();
    assert_eq!(
        code(n.update_need_status(t(assign.clone(), &worker)).await),
        Code::FailedPrecondition
    );
    assign.assignee_professional_account_id = a_id.clone();
    n.update_need_status(t(assign, &worker)).await.unwrap();
    let mine = n
        .list_needs(t(
            pb::ListNeedsRequest {
                assigned_to_me: true,
                ..Default::default()
            },
            &a,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.needs.len(), 1);
    n.update_need_status(t(status(pb::NeedAction::Start, "已到现场查看"), &a))
        .await
        .unwrap();
    let resolved = n
        .update_need_status(t(status(pb::NeedAction::Resolve, "已出具加装电梯可行性意见"), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.state, pb::NeedState::Resolved as i32);
    assert_eq!(resolved.status_note, "已出具加装电梯可行性意见");
    assert_eq!(resolved.history.len(), 5);

    // The resident evaluates once; reopening clears it.
    let evaluate = |stars| pb::EvaluateNeedRequest {
        id: need.id.clone(),
        satisfaction: stars,
        comment: "很专业".into(),
    };
    assert_eq!(
        code(n.evaluate_need(t(evaluate(5), &worker)).await),
        Code::PermissionDenied
    );
    assert_eq!(
        bad_fields(n.evaluate_need(t(evaluate(6), &resident)).await),
        ["satisfaction"]
    );
    assert_eq!(
        n.evaluate_need(t(evaluate(5), &resident))
            .await
            .unwrap()
            .into_inner()
            .satisfaction,
        5
    );
    assert_eq!(
        code(n.evaluate_need(t(evaluate(4), &resident)).await),
        Code::FailedPrecondition
    );
    let reopened = n
        .update_need_status(t(status(pb::NeedAction::Reopen, "电梯方案需要再讨论"), &resident))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reopened.state, reopened.satisfaction),
        (pb::NeedState::Reopened as i32, 0)
    );
    let history = n
        .get_need(t(
            pb::GetNeedRequest {
                id: need.id.clone(),
                ..Default::default()
            },
            &resident,
        ))
        .await
        .unwrap()
        .into_inner()
        .history;
    let states: Vec<i32> = history.iter().map(|h| h.to_state).collect();
    use pb::NeedState as S;
    assert_eq!(
        states,
        [
            S::Submitted,
            S::Triaged,
            S::Assigned,
            S::InProgress,
            S::Resolved,
            S::Reopened
        ]
        .map(|s| s as i32)
    );
    assert_eq!(
        code(
            n.get_need(t(
                pb::GetNeedRequest {
                    id: need.id.clone(),
                    ..Default::default()
                },
                &outsider
            ))
            .await
        ),
        Code::PermissionDenied
    );

    // Overdue: past its deadline and not closed.
    // (The deadline is days away: move it into the past rather than wait.)
    s.execute(&format!(
        "UPDATE needs SET expected_at = '2020-01-01 00:00:00+00:00' WHERE id = '{}'",
        need.id
    ))
    .await;
    let overdue = n
        .list_needs(t(
            pb::ListNeedsRequest {
                overdue_only: true,
                ..Default::default()
            },
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        overdue.needs.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        [need.id.as_str()]
    );
    assert!(overdue.needs[0].overdue);
    for event in ["NeedSubmitted", "NeedAssigned", "NeedResolved", "NeedEvaluated"] {
        let sql = format!("SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.matching.v1.{event}'");
        assert_eq!(s.count(&sql).await, 1, "{event}");
    }
}

/// Whether a need shows nothing that names or locates its resident: no
/// words, address, exact position, photos, submitter, contact or assignee.
fn de_identified(n: &pb::Need) -> bool {
    n.description.is_empty()
        && n.address.is_empty()
        && n.media_urls.is_empty()
        && n.submitter_account_id.is_empty()
        && !n.contact_consent
        && n.assigned_professional_account_id.is_empty()
        && n.evaluation_comment.is_empty()
        && n.history.iter().all(|h| h.actor_account_id.is_empty())
}

fn near(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

async fn needs_are_private_to_their_residents(db: TestDb) {
    let s = stack(db, "").await;
    let first = s.person("resident_first", id::Role::Resident, MINSHENGLU).await;
    let second = s.person("resident_second", id::Role::Resident, MINSHENGLU).await;
    let elsewhere = s.person("resident_elsewhere", id::Role::Resident, PINGAN).await;
    let worker = s.person("worker_msl", id::Role::CommunityWorker, MINSHENGLU).await;
    let auditor = s.person("auditor_city", id::Role::Auditor, "50").await;
    let reviewer = s.login("reviewer").await;
    let mut n = s.needs();
    let submit = pb::SubmitNeedRequest {
        community_code: MINSHENGLU.into(),
        category_code: "house-safety".into(),
        description: "我家 3 楼卧室墙体开裂，独居老人，电话 13812345678".into(),
        location: Some(pb::Location {
            longitude: 106.5815,
            latitude: 29.5527,
        }),
        address: "民生路 12 号 3 单元 302".into(),
        media_urls: vec!["https://img.example.cn/crack.jpg".into()],
        contact_consent: true,
        request_id: "private-1".into(),
        ..Default::default()
    };
    let mine = n.submit_need(t(submit.clone(), &first)).await.unwrap().into_inner();
    assert_eq!(mine.description, submit.description);
    let list = |token: &String| {
        let mut n = s.needs();
        let request = t(pb::ListNeedsRequest::default(), token);
        async move { n.list_needs(request).await }
    };
    let get = |id: &str| pb::GetNeedRequest {
        id: id.into(),
        ..Default::default()
    };

    // A neighbour sees it only as a de-identified summary.
    let seen = list(&second).await.unwrap().into_inner().needs;
    assert_eq!(seen.len(), 1);
    let summary = &seen[0];
    assert_eq!(summary.id, mine.id);
    assert!(de_identified(summary), "{summary:?}");
    assert_eq!(summary.category_code, "house-safety");
    assert_eq!(summary.state, pb::NeedState::Submitted as i32);
    assert!(summary.agency_responsible.contains("解放碑街道"), "the street by name");
    assert!(!summary.status_note.is_empty(), "public notes");
    let at = summary.location.expect("a street-level position");
    assert!(near(at.longitude, 106.58) && near(at.latitude, 29.55), "{at:?}");
    let one = n.get_need(t(get(&mine.id), &second)).await.unwrap().into_inner();
    assert!(de_identified(&one), "{one:?}");
    assert_eq!(one.history.len(), 1, "the history, without names");

    // Its submitter sees it in full; so does the community's worker.
    for token in [&first, &worker] {
        let seen = list(token).await.unwrap().into_inner().needs;
        assert_eq!(seen.len(), 1);
        let whole = &seen[0];
        assert_eq!(whole.description, submit.description);
        assert_eq!(whole.address, submit.address);
        assert_eq!(whole.media_urls, submit.media_urls);
        assert_eq!(whole.submitter_account_id, mine.submitter_account_id);
        assert!(!whole.submitter_account_id.is_empty() && whole.contact_consent);
        assert_eq!(whole.location, submit.location);
    }

    // An auditor sees the handling, not the resident.
    let audited = n.get_need(t(get(&mine.id), &auditor)).await.unwrap().into_inner();
    assert!(audited.description.is_empty() && audited.address.is_empty() && audited.submitter_account_id.is_empty());

    // The city's reviewer does not need needs; another community's resident sees none.
    assert_eq!(code(list(&reviewer).await), Code::PermissionDenied);
    assert_eq!(
        code(n.get_need(t(get(&mine.id), &reviewer)).await),
        Code::PermissionDenied
    );
    assert!(list(&elsewhere).await.unwrap().into_inner().needs.is_empty());
    assert_eq!(
        code(n.get_need(t(get(&mine.id), &elsewhere)).await),
        Code::PermissionDenied
    );

    // Remembered responses answer only their own caller: the worker's
    // triage key, replayed by anyone else, is that caller's own request
    // (refused), never the worker's stored answer.
    let triage = pb::UpdateNeedStatusRequest {
        id: mine.id.clone(),
        action: pb::NeedAction::Triage as i32,
        note: "已受理，安排房屋安全专家查看".into(),
        request_id: "triage-1".into(),
        ..Default::default()
    };
    let triaged = n
        .update_need_status(t(triage.clone(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(triaged.description, submit.description);
    assert_eq!(
        code(n.update_need_status(t(triage.clone(), &reviewer)).await),
        Code::PermissionDenied
    );
    assert_eq!(
        code(n.update_need_status(t(triage.clone(), &second)).await),
        Code::FailedPrecondition,
        "already triaged: the neighbour's own request, checked"
    );
    let again = n.update_need_status(t(triage, &worker)).await.unwrap().into_inner();
    assert_eq!(
        again.state,
        pb::NeedState::Triaged as i32,
        "the worker's retry is a replay"
    );
    let retried = n.submit_need(t(submit.clone(), &first)).await.unwrap().into_inner();
    assert_eq!(
        (retried.id.as_str(), retried.description.as_str()),
        (mine.id.as_str(), submit.description.as_str())
    );
    let one = n.get_need(t(get(&mine.id), &second)).await.unwrap().into_inner();
    assert!(de_identified(&one), "{one:?}");
    assert_eq!(one.status_note, "已受理，安排房屋安全专家查看");
    assert_eq!(one.history.len(), 2);

    // The public summary (Open311's anonymous reads): no credentials, a division required.
    let public = |region: &str| pb::ListNeedsRequest {
        region_code: region.into(),
        public_view: true,
        ..Default::default()
    };
    assert_eq!(bad_fields(n.list_needs(public("")).await), ["region_code"]);
    let listed = n.list_needs(public("500103003")).await.unwrap().into_inner().needs;
    assert_eq!(
        listed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        [mine.id.as_str()]
    );
    assert!(de_identified(&listed[0]), "{:?}", listed[0]);
    assert!(
        n.list_needs(public("500104"))
            .await
            .unwrap()
            .into_inner()
            .needs
            .is_empty()
    );
    let public_one = |region: &str| pb::GetNeedRequest {
        id: mine.id.clone(),
        public_view: true,
        region_code: region.into(),
        ..Default::default()
    };
    assert_eq!(code(n.get_need(public_one("500104")).await), Code::NotFound);
    let one = n.get_need(public_one("500103")).await.unwrap().into_inner();
    assert!(de_identified(&one), "{one:?}");
    // The flag only ever takes away: the submitter asking for it sees the summary too.
    let one = n.get_need(t(public_one("500103"), &first)).await.unwrap().into_inner();
    assert!(de_identified(&one), "{one:?}");
}

async fn teams_per_region(db: TestDb) {
    let s = stack(db, "").await;
    let (_, a_id, _) = s.professional(planner("pro_a", &["500103"]), 9).await;
    let (_, c_id, _) = s.professional(planner("pro_c", &["500103003"]), 10).await;
    let (_, b_id, _) = s.professional(planner("pro_b", &["500104"]), 11).await;
    let street = s.login("jiefangbei").await;
    let yuzhong = s.login("yuzhong").await;
    let dadukou = s.login("dadukou").await;
    let mut teams = s.teams();
    let create = |kind: pb::TeamKind, name: &str, region: &str, parent: &str| pb::CreateTeamRequest {
        kind: kind as i32,
        name: name.into(),
        region_code: region.into(),
        parent_team_id: parent.into(),
        request_id: String::new(),
    };
    use pb::TeamKind as K;
    let responsible = teams
        .create_team(t(
            create(K::ResponsiblePlanner, "解放碑街道责任规划师团队", "500103003", ""),
            &street,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(responsible.region_name, "解放碑街道");
    assert_eq!(
        code(
            teams
                .create_team(t(
                    create(K::ResponsiblePlanner, "第二个团队", "500103003", ""),
                    &yuzhong
                ))
                .await
        ),
        Code::AlreadyExists
    );
    assert_eq!(
        code(
            teams
                .create_team(t(create(K::ResponsiblePlanner, "区级团队", "500103", ""), &yuzhong))
                .await
        ),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(
            teams
                .create_team(t(create(K::ResponsiblePlanner, "越权团队", "500104001", ""), &street))
                .await
        ),
        Code::PermissionDenied
    );
    let member = |team: &str, account: &str, role: pb::MemberRole, name: &str| pb::AddTeamMemberRequest {
        team_id: team.into(),
        account_id: account.into(),
        display_name: name.into(),
        role: role as i32,
    };
    teams
        .add_team_member(t(member(&responsible.id, &a_id, pb::MemberRole::Lead, ""), &street))
        .await
        .unwrap();
    assert_eq!(
        code(
            teams
                .add_team_member(t(member(&responsible.id, &c_id, pb::MemberRole::Lead, ""), &street))
                .await
        ),
        Code::FailedPrecondition
    );
    let with_c = teams
        .add_team_member(t(member(&responsible.id, &c_id, pb::MemberRole::Member, ""), &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(with_c.members.len(), 2);
    assert_eq!(with_c.members[0].display_name, "专家9");
    assert_eq!(
        code(
            teams
                .add_team_member(t(member(&responsible.id, &b_id, pb::MemberRole::Member, ""), &street))
                .await
        ),
        Code::FailedPrecondition
    );

    // Chengdu's three tiers.
    let mentors = teams
        .create_team(t(create(K::Mentor, "渝中区导师团", "500103", ""), &yuzhong))
        .await
        .unwrap()
        .into_inner();
    let planners = teams
        .create_team(t(
            create(K::Planner, "民生路社区规划师", MINSHENGLU, &mentors.id),
            &yuzhong,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        code(
            teams
                .create_team(t(create(K::Crowd, "错挂众创组", MINSHENGLU, &mentors.id), &yuzhong))
                .await
        ),
        Code::FailedPrecondition
    );
    let worker = s.person("worker_msl", id::Role::CommunityWorker, MINSHENGLU).await;
    let crowd = teams
        .create_team(t(
            create(K::Crowd, "民生路居民众创组", MINSHENGLU, &planners.id),
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    let resident = teams
        .add_team_member(t(
            member(&crowd.id, "resident-0001", pb::MemberRole::Member, "张阿姨"),
            &worker,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(resident.members[0].resident);
    assert_eq!(
        bad_fields(
            teams
                .add_team_member(t(
                    member(&crowd.id, "resident-0002", pb::MemberRole::Member, ""),
                    &worker
                ))
                .await
        ),
        ["display_name"]
    );
    teams
        .create_team(t(create(K::CityExpert, "市级专家团", "50", ""), &s.login("city").await))
        .await
        .unwrap();

    let list = |token: &str| {
        let mut teams = teams.clone();
        let token = token.to_string();
        async move {
            teams
                .list_teams(t(
                    pb::ListTeamsRequest {
                        region_code: "500103".into(),
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .unwrap()
                .into_inner()
                .teams
        }
    };
    assert_eq!(list(&yuzhong).await.len(), 4);
    assert!(list(&dadukou).await.is_empty());
    let removed = teams
        .remove_team_member(t(
            pb::RemoveTeamMemberRequest {
                team_id: responsible.id.clone(),
                account_id: c_id,
            },
            &street,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.members.len(), 1);
}

async fn batch_assignment_is_proposed_reviewed_and_applied(db: TestDb) {
    let s = stack(db, "").await;
    let mut ids = Vec::new();
    for (i, (name, profession)) in [
        ("pro_p", q::Profession::Planner),
        ("pro_a", q::Profession::Architect),
        ("pro_e", q::Profession::Engineer),
    ]
    .into_iter()
    .enumerate()
    {
        let pro = Pro {
            profession,
            ..planner(name, &["500103003"])
        };
        ids.push(s.professional(pro, 20 + i as u32).await.1);
    }
    let street = s.login("jiefangbei").await;
    let mut a = s.assignments();
    let propose = |region: &str, km: f64| pb::ProposeAssignmentRequest {
        region_code: region.into(),
        max_distance_km: km,
        request_id: String::new(),
    };
    assert_eq!(
        code(a.propose_assignment(t(propose("500104001", 0.0), &street)).await),
        Code::PermissionDenied
    );
    assert_eq!(
        bad_fields(a.propose_assignment(t(propose("500103003", 500.0), &street)).await),
        ["max_distance_km"]
    );
    let proposal = a
        .propose_assignment(t(propose("500103003", 0.0), &street))
        .await
        .unwrap()
        .into_inner();
    // 解放碑 has 9 urban communities and the three professionals 3 places each:
    // coverage first gives every community exactly one.
    assert_eq!(proposal.communities, 9);
    assert_eq!((proposal.covered, proposal.covered_professions), (9, 9));
    assert_eq!(proposal.pairs.len(), 9);
    for id in &ids {
        assert_eq!(
            proposal
                .pairs
                .iter()
                .filter(|p| &p.professional_account_id == id)
                .count(),
            3
        );
    }
    assert!(
        proposal
            .pairs
            .iter()
            .all(|p| p.distance_km <= 10.0 && p.community_code.starts_with("500103003"))
    );
    let total: f64 = proposal.pairs.iter().map(|p| p.distance_km).sum();
    assert!((proposal.total_distance_km - total).abs() < 1e-6);
    assert_eq!(proposal.state, pb::AssignmentState::Proposed as i32);

    // The admin strikes one pair out; the rest become invitations, once.
    let struck = format!(
        "{}/{}",
        proposal.pairs[0].community_code, proposal.pairs[0].professional_account_id
    );
    let apply = pb::ApplyAssignmentRequest {
        id: proposal.id.clone(),
        excluded_pairs: vec![struck],
        message: "街道统筹匹配".into(),
    };
    let applied = a
        .apply_assignment(t(apply.clone(), &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (applied.state, applied.invitations_sent),
        (pb::AssignmentState::Applied as i32, 8)
    );
    let again = a.apply_assignment(t(apply, &street)).await.unwrap().into_inner();
    assert_eq!(again.invitations_sent, 8);
    let pending = format!(
        "SELECT COUNT(*) FROM matches WHERE state = 'pending' AND assignment_id = '{}'",
        proposal.id
    );
    assert_eq!(s.count(&pending).await, 8);
    // A new proposal counts pending invitations as taken (one place is left,
    // the struck professional's) and as coverage: the place goes to the one
    // community without a professional, whatever the distances.
    let next = a
        .propose_assignment(t(propose("500103003", 0.0), &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.pairs.len(), 1);
    assert_eq!(
        next.pairs[0].professional_account_id,
        proposal.pairs[0].professional_account_id
    );
    assert_eq!(next.pairs[0].community_code, proposal.pairs[0].community_code);
    assert_eq!(next.covered, 9);
}

/// What the gateway's federation port asks of matching: only platform
/// services may ask; the directory shows consenting active professionals
/// only; support needs are idempotent per peer, kept apart per peer, seen
/// by the province's admins, assignable to consenting professionals only,
/// and listed change by change.
async fn federation_support(db: TestDb) {
    let s = stack(db, "").await;
    let (a, a_id, _) = s.professional(planner("pro_fed_a", &["500103"]), 21).await;
    let (_, b_id, _) = s.professional(planner("pro_fed_b", &["500103"]), 22).await;
    s.execute(&format!(
        "UPDATE professionals SET federation_consent = true WHERE account_id = '{a_id}'"
    ))
    .await;
    let token_of = |client: &'static str| {
        let identity = s.identity.clone();
        async move {
            id::auth_service_client::AuthServiceClient::new(identity)
                .issue_service_token(id::IssueServiceTokenRequest {
                    client_id: client.into(),
                    client_secret: identity::testing::SERVICE_SECRET.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .access_token
        }
    };
    let service = token_of("gateway").await;
    let other_service = token_of("matching").await;
    let city = s.login("city").await;
    let mut f = pb::federation_support_service_client::FederationSupportServiceClient::new(s.matching.clone());

    let search = pb::SearchPublicExpertsRequest::default();
    assert_eq!(
        code(f.search_public_experts(t(search.clone(), &city)).await),
        Code::PermissionDenied,
        "people do not call it"
    );
    assert_eq!(
        code(f.search_public_experts(t(search.clone(), &other_service)).await),
        Code::PermissionDenied,
        "nor services other than the gateway, which could name any peer"
    );
    let page = f
        .search_public_experts(t(search.clone(), &service))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.experts.len(), 1, "only the consenting one: {page:?}");
    let expert = &page.experts[0];
    assert_ne!(expert.id, a_id);
    assert_eq!(expert.district_name, "渝中区");
    assert_eq!(expert.specialties, ["加装电梯", "城市更新"]);
    let others = pb::SearchPublicExpertsRequest {
        other_professions: true,
        ..search.clone()
    };
    assert!(
        f.search_public_experts(t(others, &service))
            .await
            .unwrap()
            .into_inner()
            .experts
            .is_empty()
    );
    let specialty = |name: &str| pb::SearchPublicExpertsRequest {
        specialty: name.into(),
        ..Default::default()
    };
    assert_eq!(
        f.search_public_experts(t(specialty("城市更新"), &service))
            .await
            .unwrap()
            .into_inner()
            .experts
            .len(),
        1
    );
    assert!(
        f.search_public_experts(t(specialty("城市"), &service))
            .await
            .unwrap()
            .into_inner()
            .experts
            .is_empty(),
        "whole specialties only"
    );

    let bad = pb::CreateSupportNeedRequest {
        origin_peer: "sichuan".into(),
        community_code: "5101".into(),
        region_code: "50".into(),
        ..Default::default()
    };
    assert_eq!(
        bad_fields(f.create_support_need(t(bad, &service)).await),
        ["request_id", "community_code", "community_name", "title"]
    );
    let ask = pb::CreateSupportNeedRequest {
        origin_peer: "sichuan".into(),
        request_id: "sc-1".into(),
        community_code: "510104020001".into(),
        community_name: "书院街社区".into(),
        title: "加装电梯咨询".into(),
        description: "请专家评估".into(),
        region_code: "50".into(),
        ..Default::default()
    };
    let created = f
        .create_support_need(t(ask.clone(), &service))
        .await
        .unwrap()
        .into_inner();
    let need = created.need.unwrap();
    assert_eq!(
        f.create_support_need(t(ask.clone(), &service))
            .await
            .unwrap()
            .into_inner()
            .need
            .unwrap()
            .id,
        need.id
    );
    let guizhou = pb::CreateSupportNeedRequest {
        origin_peer: "guizhou".into(),
        ..ask
    };
    let theirs = f
        .create_support_need(t(guizhou, &service))
        .await
        .unwrap()
        .into_inner()
        .need
        .unwrap();
    assert_ne!(
        theirs.id, need.id,
        "the same request_id from another peer is another request"
    );
    let get = |peer: &str, id: &str| pb::GetSupportNeedRequest {
        origin_peer: peer.into(),
        id: id.into(),
    };
    assert_eq!(
        code(f.get_support_need(t(get("guizhou", &need.id), &service)).await),
        Code::NotFound
    );

    // The province's admin handles it; a district's does not see it.
    let mut n = s.needs();
    let yuzhong = s.login("yuzhong").await;
    assert_eq!(
        code(
            n.get_need(t(
                pb::GetNeedRequest {
                    id: need.id.clone(),
                    ..Default::default()
                },
                &yuzhong
            ))
            .await
        ),
        Code::PermissionDenied
    );
    let status = |action: pb::NeedAction, assignee: &str| pb::UpdateNeedStatusRequest {
        id: need.id.clone(),
        action: action as i32,
        note: "处理中".into(),
        assignee_professional_account_id: assignee.into(),
        ..Default::default()
    };
    n.update_need_status(t(status(pb::NeedAction::Triage, ""), &city))
        .await
        .unwrap();
    assert_eq!(
        code(
            n.update_need_status(t(status(pb::NeedAction::Assign, &b_id), &city))
                .await
        ),
        Code::FailedPrecondition,
        "not without consent"
    );
    n.update_need_status(t(status(pb::NeedAction::Assign, &a_id), &city))
        .await
        .unwrap();
    n.update_need_status(t(status(pb::NeedAction::Start, ""), &a))
        .await
        .unwrap();
    let seen = f
        .get_support_need(t(get("sichuan", &need.id), &service))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.expert.unwrap().id, expert.id);
    let seen = seen.need.unwrap();
    assert_eq!(seen.state, pb::NeedState::InProgress as i32);
    assert!(
        seen.assigned_professional_account_id.is_empty(),
        "no account of ours crosses"
    );

    let changes = f
        .list_support_needs(t(
            pb::ListSupportNeedsRequest {
                origin_peer: "sichuan".into(),
                ..Default::default()
            },
            &service,
        ))
        .await
        .unwrap()
        .into_inner()
        .needs;
    let states: Vec<i32> = changes.iter().map(|c| c.need.as_ref().unwrap().state).collect();
    use pb::NeedState as S;
    assert_eq!(
        states,
        [
            S::Submitted as i32,
            S::Triaged as i32,
            S::Assigned as i32,
            S::InProgress as i32
        ]
    );
    let after = changes[1].need.as_ref().unwrap().update_time;
    let later = f
        .list_support_needs(t(
            pb::ListSupportNeedsRequest {
                origin_peer: "sichuan".into(),
                updated_after: after,
                page_size: 1,
            },
            &service,
        ))
        .await
        .unwrap()
        .into_inner()
        .needs;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].need.as_ref().unwrap().state, S::Assigned as i32);
}

/// Outbox events of a kind (`MatchConfirmed`, `NeedAssigned`, …).
async fn published(s: &testkit::Stack, event: &str) -> i64 {
    s.count(&format!(
        "SELECT COUNT(*) FROM outbox_events WHERE event_type = 'sanshi.matching.v1.{event}'"
    ))
    .await
}

/// A transition retried after its answer was lost (no request_id) answers
/// the resource as it is and applies nothing again: no second event, no
/// second history row, no state moved back. Another transition is refused.
async fn retried_transitions_apply_once(db: TestDb) {
    let s = stack(db, "").await;
    let (a, a_id, _) = s.professional(planner("pro_a", &["500103"]), 21).await;
    let (b, b_id, _) = s.professional(planner("pro_b", &["500103"]), 22).await;
    let worker = s.person("worker_msl", id::Role::CommunityWorker, MINSHENGLU).await;
    let resident = s.person("resident_msl", id::Role::Resident, MINSHENGLU).await;
    let street = s.login("jiefangbei").await;
    let mut m = s.matches();
    let get_match = |id: &str| pb::GetMatchRequest { id: id.into() };

    // Accept, retried: the match as confirmed, one MatchConfirmed.
    let invited = m
        .invite_professional(t(invite(MINSHENGLU, &a_id, ""), &worker))
        .await
        .unwrap()
        .into_inner();
    m.respond_to_match(t(respond(&invited.id, true), &a)).await.unwrap();
    let confirmed = m.get_match(t(get_match(&invited.id), &a)).await.unwrap().into_inner();
    assert_eq!(confirmed.state, pb::MatchState::Active as i32);
    let again = m
        .respond_to_match(t(respond(&invited.id, true), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, confirmed, "answered as it is, not confirmed again");
    assert_eq!(published(&s, "MatchConfirmed").await, 1);
    // The professional's status is not what decides a retry (set directly:
    // a real suspension would suspend the match too).
    s.execute(&format!(
        "UPDATE professionals SET status = 'suspended' WHERE account_id = '{a_id}'"
    ))
    .await;
    let again = m
        .respond_to_match(t(respond(&invited.id, true), &a))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.state, pb::MatchState::Active as i32);
    s.execute(&format!(
        "UPDATE professionals SET status = 'active' WHERE account_id = '{a_id}'"
    ))
    .await;
    // The opposite answer stays refused.
    assert_eq!(
        code(m.respond_to_match(t(respond(&invited.id, false), &a)).await),
        Code::FailedPrecondition
    );
    assert_eq!(published(&s, "MatchConfirmed").await, 1);

    // Decline, retried: declined; accepting after it stays refused.
    let applied = m
        .apply_to_community(t(apply(LIANHUACHI), &a))
        .await
        .unwrap()
        .into_inner();
    let declined = m
        .respond_to_match(t(respond(&applied.id, false), &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(declined.state, pb::MatchState::Declined as i32);
    let again = m
        .respond_to_match(t(respond(&applied.id, false), &street))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.state, pb::MatchState::Declined as i32);
    assert_eq!(
        code(m.respond_to_match(t(respond(&applied.id, true), &street)).await),
        Code::FailedPrecondition
    );

    // Withdraw, retried by the initiator: withdrawn; the other side is refused.
    let applied = m
        .apply_to_community(t(apply(ZOURONGLU), &a))
        .await
        .unwrap()
        .into_inner();
    let withdraw = pb::WithdrawMatchRequest { id: applied.id.clone() };
    let withdrawn = m.withdraw_match(t(withdraw.clone(), &a)).await.unwrap().into_inner();
    assert_eq!(withdrawn.state, pb::MatchState::Withdrawn as i32);
    let again = m.withdraw_match(t(withdraw.clone(), &a)).await.unwrap().into_inner();
    assert_eq!(again.state, pb::MatchState::Withdrawn as i32);
    assert_eq!(
        code(m.withdraw_match(t(withdraw, &street)).await),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(m.respond_to_match(t(respond(&applied.id, true), &street)).await),
        Code::FailedPrecondition
    );

    // b is matched too, for a re-assignment below.
    let invited_b = m
        .invite_professional(t(invite(MINSHENGLU, &b_id, ""), &worker))
        .await
        .unwrap()
        .into_inner();
    m.respond_to_match(t(respond(&invited_b.id, true), &b)).await.unwrap();
    assert_eq!(published(&s, "MatchConfirmed").await, 2);

    // Needs: every keyless retry of the newest change answers the need.
    let mut n = s.needs();
    let need = n
        .submit_need(t(
            pb::SubmitNeedRequest {
                community_code: MINSHENGLU.into(),
                category_code: "elevator".into(),
                description: "3栋希望加装电梯，请专业人员评估".into(),
                ..Default::default()
            },
            &resident,
        ))
        .await
        .unwrap()
        .into_inner();
    let history_rows = format!("SELECT COUNT(*) FROM need_history WHERE need_id = '{}'", need.id);
    let status = |action: pb::NeedAction, note: &str| pb::UpdateNeedStatusRequest {
        id: need.id.clone(),
        action: action as i32,
        note: note.into(),
        ..Default::default()
    };
    let get_need = || pb::GetNeedRequest {
        id: need.id.clone(),
        ..Default::default()
    };
    let triage = status(pb::NeedAction::Triage, "已受理");
    n.update_need_status(t(triage.clone(), &worker)).await.unwrap();
    let seen = n.get_need(t(get_need(), &worker)).await.unwrap().into_inner();
    let again = n
        .update_need_status(t(triage.clone(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, seen, "the need as the worker sees it, unchanged");
    assert_eq!(s.count(&history_rows).await, 2);
    // The same words from someone else are their own change, refused in this state.
    assert_eq!(
        code(n.update_need_status(t(triage, &street)).await),
        Code::FailedPrecondition
    );

    // Assign, retried: one NeedAssigned; once started, the retry leaves it started.
    let mut assign = status(pb::NeedAction::Assign, "派给王工");
    assign.assignee_professional_account_id = a_id.clone();
    n.update_need_status(t(assign.clone(), &worker)).await.unwrap();
    let again = n
        .update_need_status(t(assign.clone(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.state, pb::NeedState::Assigned as i32);
    assert_eq!(published(&s, "NeedAssigned").await, 1);
    assert_eq!(s.count(&history_rows).await, 3);
    n.update_need_status(t(status(pb::NeedAction::Start, "已到现场"), &a))
        .await
        .unwrap();
    let again = n
        .update_need_status(t(assign.clone(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.state,
        pb::NeedState::InProgress as i32,
        "not taken back to ASSIGNED"
    );
    assert_eq!(again.assigned_professional_account_id, a_id);
    assert_eq!(published(&s, "NeedAssigned").await, 1);
    assert_eq!(s.count(&history_rows).await, 4);
    // Another assignee is a real re-assignment.
    assign.assignee_professional_account_id = b_id.clone();
    let reassigned = n
        .update_need_status(t(assign.clone(), &worker))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (reassigned.state, reassigned.assigned_professional_account_id.as_str()),
        (pb::NeedState::Assigned as i32, b_id.as_str())
    );
    assert_eq!(published(&s, "NeedAssigned").await, 2);
    assert_eq!(s.count(&history_rows).await, 5);

    // Resolve, retried: one NeedResolved; closing it otherwise is refused.
    n.update_need_status(t(status(pb::NeedAction::Start, "已到现场"), &b))
        .await
        .unwrap();
    let resolve = status(pb::NeedAction::Resolve, "已出具可行性意见");
    n.update_need_status(t(resolve.clone(), &b)).await.unwrap();
    let again = n.update_need_status(t(resolve, &b)).await.unwrap().into_inner();
    assert_eq!(again.state, pb::NeedState::Resolved as i32);
    assert_eq!(published(&s, "NeedResolved").await, 1);
    assert_eq!(s.count(&history_rows).await, 7);
    assert_eq!(
        code(
            n.update_need_status(t(status(pb::NeedAction::CloseNotResolved, "已出具可行性意见"), &worker))
                .await
        ),
        Code::FailedPrecondition
    );

    // Evaluate, retried: one NeedEvaluated; other stars stay refused.
    let evaluate = |stars| pb::EvaluateNeedRequest {
        id: need.id.clone(),
        satisfaction: stars,
        comment: "很专业".into(),
    };
    n.evaluate_need(t(evaluate(5), &resident)).await.unwrap();
    let again = n.evaluate_need(t(evaluate(5), &resident)).await.unwrap().into_inner();
    assert_eq!((again.satisfaction, again.evaluation_comment.as_str()), (5, "很专业"));
    assert_eq!(published(&s, "NeedEvaluated").await, 1);
    assert_eq!(
        code(n.evaluate_need(t(evaluate(4), &resident)).await),
        Code::FailedPrecondition
    );

    // End, retried by the same side with the same reason: one MatchEnded.
    let end = |reason: &str| pb::EndMatchRequest {
        id: invited.id.clone(),
        reason: reason.into(),
    };
    m.end_match(t(end("项目已完成"), &worker)).await.unwrap();
    let ended = m
        .get_match(t(get_match(&invited.id), &worker))
        .await
        .unwrap()
        .into_inner();
    let again = m.end_match(t(end("项目已完成"), &worker)).await.unwrap().into_inner();
    assert_eq!(again, ended);
    assert_eq!(ended.ended_by, pb::MatchSide::Community as i32);
    assert_eq!(published(&s, "MatchEnded").await, 1);
    assert_eq!(
        code(m.end_match(t(end("另有安排"), &worker)).await),
        Code::FailedPrecondition
    );
    assert_eq!(
        code(m.end_match(t(end("项目已完成"), &a)).await),
        Code::FailedPrecondition
    );
    assert_eq!(published(&s, "MatchEnded").await, 1);
}

kit::db_tests!(
    federation_support,
    batch_assignment_is_proposed_reviewed_and_applied,
    two_way_matching_capacity_and_scope,
    expiry_response_times_and_suspension,
    recommendations_show_their_factors,
    needs_closed_loop,
    needs_are_private_to_their_residents,
    teams_per_region,
    retried_transitions_apply_once
);
