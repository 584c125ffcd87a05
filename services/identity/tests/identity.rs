//! Identity end to end: the real service on a random port, on SQLite and on PostgreSQL.

mod common;

use common::{Harness, PASSWORD, SERVICE_SECRET, new_account, with_token};
use kit::db::testing::TestDb;
use sanshi_proto::identity::v1 as pb;
use sea_orm::ConnectionTrait;
use tonic::Code;
use tonic_types::StatusExt;

async fn regions_are_seeded_from_real_data(db: TestDb) {
    let h = Harness::start(db).await;
    let mut regions = h.regions();
    let yuzhong = regions
        .get_region(pb::GetRegionRequest { code: "500103".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(yuzhong.name, "渝中区");
    assert_eq!(yuzhong.level, pb::RegionLevel::District as i32);

    // 38 districts under the two city-level groupings, read page by page.
    let mut districts = 0;
    for city in ["5001", "5002"] {
        let mut token = String::new();
        loop {
            let page = regions
                .list_regions(pb::ListRegionsRequest {
                    parent_code: city.into(),
                    page_size: 7,
                    page_token: token,
                })
                .await
                .unwrap()
                .into_inner();
            districts += page.regions.len();
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
    }
    assert_eq!(districts, 38);

    let chain = regions
        .list_region_ancestors(pb::ListRegionAncestorsRequest {
            code: "500103003".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = chain.regions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["重庆市", "市辖区", "渝中区", "解放碑街道"]);

    let missing = regions
        .get_region(pb::GetRegionRequest { code: "990101".into() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let bad = regions
        .get_region(pb::GetRegionRequest { code: "5x".into() })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(bad.get_details_bad_request().unwrap().field_violations[0].field, "code");
    h.stop().await;
}

async fn admins_act_only_inside_their_scope(db: TestDb) {
    let h = Harness::start(db).await;
    let yuzhong = h.token("yuzhong").await;
    let mut accounts = h.accounts();

    // A district admin of 500103 creates a street admin in 500103 …
    let created = accounts
        .create_account(with_token(
            new_account("qixinggang", "500103001", &[(pb::Role::StreetAdmin, "500103001")]),
            &yuzhong,
        ))
        .await
        .expect("create inside scope")
        .into_inner();
    assert_eq!(created.roles.len(), 1);

    // … but not in 500104, and cannot read accounts there.
    let outside = accounts
        .create_account(with_token(
            new_account("dadukou_street", "500104001", &[(pb::Role::StreetAdmin, "500104001")]),
            &yuzhong,
        ))
        .await
        .unwrap_err();
    assert_eq!(outside.code(), Code::PermissionDenied);
    let dadukou = h.token("dadukou").await;
    let dadukou_id = accounts
        .get_account(with_token(pb::GetAccountRequest { id: "me".into() }, &dadukou))
        .await
        .unwrap()
        .into_inner()
        .id;
    let read = accounts
        .get_account(with_token(pb::GetAccountRequest { id: dadukou_id }, &yuzhong))
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::PermissionDenied);

    // Nor grant a role of its own rank.
    let peer = accounts
        .create_account(with_token(
            new_account("yuzhong2", "500103", &[(pb::Role::DistrictAdmin, "500103")]),
            &yuzhong,
        ))
        .await
        .unwrap_err();
    assert_eq!(peer.code(), Code::PermissionDenied);

    // A street admin cannot create a district admin.
    let street = h.token("jiefangbei").await;
    let up = accounts
        .create_account(with_token(
            new_account("sneaky", "500103", &[(pb::Role::DistrictAdmin, "500103")]),
            &street,
        ))
        .await
        .unwrap_err();
    assert_eq!(up.code(), Code::PermissionDenied);
    // It can create a community worker in its own street.
    accounts
        .create_account(with_token(
            new_account(
                "worker1",
                "500103003013",
                &[(pb::Role::CommunityWorker, "500103003013")],
            ),
            &street,
        ))
        .await
        .expect("community worker inside the street");

    // Listing shows only the caller's scope.
    let listed = accounts
        .list_accounts(with_token(pb::ListAccountsRequest::default(), &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.accounts.iter().all(|a| a.region_code.starts_with("500103")));
    assert!(listed.accounts.iter().any(|a| a.username == "worker1"));
    let foreign = accounts
        .list_accounts(with_token(
            pb::ListAccountsRequest {
                region_code: "500104".into(),
                ..Default::default()
            },
            &yuzhong,
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::PermissionDenied);
    // Page tokens are the service's own: junk is refused, not queried with.
    for junk in ["abc", "-1", "Z2FyYmFnZQ", "AA"] {
        let refused = accounts
            .list_accounts(with_token(
                pb::ListAccountsRequest {
                    page_token: junk.into(),
                    ..Default::default()
                },
                &yuzhong,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{junk}");
    }
    let first = accounts
        .list_accounts(with_token(
            pb::ListAccountsRequest {
                page_size: 1,
                ..Default::default()
            },
            &yuzhong,
        ))
        .await
        .unwrap()
        .into_inner();
    let second = accounts
        .list_accounts(with_token(
            pb::ListAccountsRequest {
                page_size: 1,
                page_token: first.next_page_token.clone(),
                ..Default::default()
            },
            &yuzhong,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(first.accounts[0].username, second.accounts[0].username);

    // Denials are audited.
    let auditor = h.token("auditor").await;
    for junk in ["-1", "+5", "abc"] {
        let refused = h
            .audit()
            .list_audit_entries(with_token(
                pb::ListAuditEntriesRequest {
                    page_token: junk.into(),
                    ..Default::default()
                },
                &auditor,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{junk}");
    }
    let entries = h
        .audit()
        .list_audit_entries(with_token(pb::ListAuditEntriesRequest::default(), &auditor))
        .await
        .unwrap()
        .into_inner();
    assert!(
        entries
            .entries
            .iter()
            .any(|e| e.action == "create_account" && e.outcome == pb::AuditOutcome::Denied as i32)
    );
    h.stop().await;
}

async fn updates_and_role_changes_respect_scope_and_rank(db: TestDb) {
    let h = Harness::start(db).await;
    let (city, yuzhong, dadukou) = (
        h.token("city").await,
        h.token("yuzhong").await,
        h.token("dadukou").await,
    );
    let mut accounts = h.accounts();
    let street = accounts
        .create_account(with_token(
            new_account("qixinggang", "500103001", &[(pb::Role::StreetAdmin, "500103001")]),
            &yuzhong,
        ))
        .await
        .unwrap()
        .into_inner();
    let disable = |id: &str| pb::UpdateAccountRequest {
        account: Some(pb::Account {
            id: id.into(),
            status: pb::AccountStatus::Disabled as i32,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["status".into()],
        }),
    };
    let grant = |id: &str, role: pb::Role, region: &str| pb::GrantRoleRequest {
        account_id: id.into(),
        grant: Some(pb::RoleGrant {
            role: role as i32,
            region_code: region.into(),
        }),
    };

    // Another district's admin can neither change the account nor its roles.
    let code =
        |r: Result<tonic::Response<pb::Account>, tonic::Status>| r.map(|_| Code::Ok).unwrap_or_else(|s| s.code());
    assert_eq!(
        code(accounts.update_account(with_token(disable(&street.id), &dadukou)).await),
        Code::PermissionDenied
    );
    let foreign = grant(&street.id, pb::Role::CommunityWorker, "500104001001");
    assert_eq!(
        code(accounts.grant_role(with_token(foreign, &dadukou)).await),
        Code::PermissionDenied
    );
    // Its own district admin can, inside 500103 only.
    let worker = grant(&street.id, pb::Role::CommunityWorker, "500103001003");
    assert_eq!(
        code(accounts.grant_role(with_token(worker.clone(), &yuzhong)).await),
        Code::Ok
    );
    let outside = grant(&street.id, pb::Role::CommunityWorker, "500104001001");
    assert_eq!(
        code(accounts.grant_role(with_token(outside, &yuzhong)).await),
        Code::PermissionDenied
    );
    let revoke = pb::RevokeRoleRequest {
        account_id: worker.account_id.clone(),
        grant: worker.grant.clone(),
    };
    assert_eq!(
        code(accounts.revoke_role(with_token(revoke.clone(), &dadukou)).await),
        Code::PermissionDenied
    );
    let revoked = accounts
        .revoke_role(with_token(revoke, &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.roles.len(), 1);
    assert_eq!(
        code(accounts.update_account(with_token(disable(&street.id), &yuzhong)).await),
        Code::Ok
    );
    // A disabled account cannot log in.
    assert_eq!(
        h.try_login("qixinggang", PASSWORD).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Someone living in 500103 who reviews city-wide is out of the district admin's reach.
    let reviewer = accounts
        .create_account(with_token(
            new_account("citywide", "500103", &[(pb::Role::Reviewer, "50")]),
            &city,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        code(
            accounts
                .update_account(with_token(disable(&reviewer.id), &yuzhong))
                .await
        ),
        Code::PermissionDenied
    );
    // An admin cannot disable itself or a peer.
    let me = accounts
        .get_account(with_token(pb::GetAccountRequest { id: "me".into() }, &yuzhong))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        code(accounts.update_account(with_token(disable(&me.id), &yuzhong)).await),
        Code::PermissionDenied
    );
    // Auditors are city-wide: a street admin cannot appoint one.
    let street_token = h.token("jiefangbei").await;
    let auditor = new_account("snoop", "500103003", &[(pb::Role::Auditor, "500103003")]);
    let status = accounts
        .create_account(with_token(auditor, &street_token))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "auditor at street level is not a valid grant"
    );
    h.stop().await;
}

async fn service_tokens_do_not_administer(db: TestDb) {
    let h = Harness::start(db).await;
    let service = h
        .auth()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: "matching".into(),
            client_secret: SERVICE_SECRET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let admin = new_account("mallory", "50", &[(pb::Role::CityAdmin, "50")]);
    assert_eq!(
        h.accounts()
            .create_account(with_token(admin, &service))
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );
    let rotate = h
        .auth()
        .rotate_signing_key(with_token(pb::RotateSigningKeyRequest {}, &service))
        .await
        .unwrap_err();
    assert_eq!(rotate.code(), Code::PermissionDenied);
    let audit = h
        .audit()
        .list_audit_entries(with_token(pb::ListAuditEntriesRequest::default(), &service))
        .await
        .unwrap_err();
    assert_eq!(audit.code(), Code::PermissionDenied);
    h.stop().await;
}

async fn bad_input_reports_every_field(db: TestDb) {
    let h = Harness::start(db).await;
    let city = h.token("city").await;
    let mut request = new_account("X y", "123", &[(pb::Role::Unspecified, "500103")]);
    request.account.as_mut().unwrap().phone = "12345".into();
    request.initial_password = "short".into();
    let status = h
        .accounts()
        .create_account(with_token(request, &city))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields: Vec<_> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "account.phone",
            "account.region_code",
            "account.roles[0].role",
            "account.username",
            "initial_password"
        ]
    );
    // No token at all.
    let anonymous = h
        .accounts()
        .get_account(pb::GetAccountRequest { id: "me".into() })
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    // A forged token.
    let forged = h
        .accounts()
        .get_account(with_token(
            pb::GetAccountRequest { id: "me".into() },
            "eyJhbGciOiJub25lIn0.e30.",
        ))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
    h.stop().await;
}

async fn phone_is_encrypted_and_masked(db: TestDb) {
    let h = Harness::start(db).await;
    let city = h.token("city").await;
    let mut request = new_account("wanggong", "500103", &[(pb::Role::Reviewer, "500103")]);
    request.account.as_mut().unwrap().phone = "138 1234 5678".into();
    let created = h
        .accounts()
        .create_account(with_token(request, &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.phone, "138****5678", "admins see it masked");

    let own = h.token("wanggong").await;
    let me = h
        .accounts()
        .get_account(with_token(pb::GetAccountRequest { id: "me".into() }, &own))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.phone, "13812345678", "the holder sees it in full");

    // Nothing in the raw table holds the number.
    let rows =
        h.db.conn
            .query_all_raw(sea_orm::Statement::from_string(
                h.db.conn.get_database_backend(),
                "SELECT * FROM accounts".to_string(),
            ))
            .await
            .unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        for column in row.column_names() {
            let text: Option<String> = row.try_get("", &column).ok().flatten();
            let bytes: Option<Vec<u8>> = row.try_get("", &column).ok().flatten();
            // The number in full or masked; not just its last digits, which a
            // timestamp's fraction of a second may hold by chance.
            let text = text.unwrap_or_default();
            assert!(
                !text.contains("12345678") && !text.contains("*5678"),
                "column {column} holds the phone"
            );
            let bytes = bytes.unwrap_or_default();
            assert!(
                !bytes.windows(8).any(|w| w == b"12345678") && !bytes.windows(5).any(|w| w == b"*5678"),
                "column {column} holds the phone"
            );
        }
    }

    // The same phone cannot be registered twice.
    let mut again = new_account("wanggong2", "500103", &[]);
    again.account.as_mut().unwrap().phone = "13812345678".into();
    let dup = h.accounts().create_account(with_token(again, &city)).await.unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    h.stop().await;
}

async fn lockout_after_five_failures(db: TestDb) {
    let h = Harness::start(db).await;
    for _ in 0..5 {
        let wrong = h.try_login("yuzhong", "WrongPassword1").await.unwrap_err();
        assert_eq!(wrong.code(), Code::Unauthenticated);
    }
    // Even the right password is refused while locked.
    let locked = h.try_login("yuzhong", PASSWORD).await.unwrap_err();
    assert_eq!(locked.code(), Code::ResourceExhausted, "{locked:?}");
    // Other users are unaffected.
    h.try_login("city", PASSWORD).await.expect("other accounts log in");

    // Guessing in parallel gets no more than five tries.
    let guesses = (0..12).map(|_| h.try_login("dadukou", "WrongPassword1"));
    let results = futures::future::join_all(guesses).await;
    let tried = results
        .iter()
        .filter(|r| r.as_ref().unwrap_err().code() == Code::Unauthenticated)
        .count();
    let refused = results
        .iter()
        .filter(|r| r.as_ref().unwrap_err().code() == Code::ResourceExhausted)
        .count();
    assert_eq!((tried, refused), (5, 7));

    // Failing as a service's client id through the person login does not lock the service out.
    for _ in 0..6 {
        let _ = h.try_login("matching", "WrongPassword1").await;
    }
    h.auth()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: "matching".into(),
            client_secret: SERVICE_SECRET.into(),
        })
        .await
        .expect("service still gets tokens");
    h.stop().await;
}

async fn refresh_rotates_and_detects_reuse(db: TestDb) {
    let h = Harness::start(db).await;
    let first = h.try_login("yuzhong", PASSWORD).await.unwrap();
    let mut auth = h.auth();
    let second = auth
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: first.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tokens
        .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);

    // Replaying the spent token fails and revokes the whole family …
    let replay = auth
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: first.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(replay.code(), Code::Unauthenticated);
    let after = auth
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: second.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(after.code(), Code::Unauthenticated, "descendant revoked too");

    // … while another login's family is untouched, until logout.
    let other = h.try_login("yuzhong", PASSWORD).await.unwrap();
    auth.logout(pb::LogoutRequest {
        refresh_token: other.refresh_token.clone(),
    })
    .await
    .unwrap();
    let logged_out = auth
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: other.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(logged_out.code(), Code::Unauthenticated);
    h.stop().await;
}

async fn password_change_revokes_sessions(db: TestDb) {
    let h = Harness::start(db).await;
    let session = h.try_login("jiefangbei", PASSWORD).await.unwrap();
    let mut auth = h.auth();
    let wrong = auth
        .change_password(with_token(
            pb::ChangePasswordRequest {
                current_password: "Nope12345".into(),
                new_password: "NewSecret2027".into(),
            },
            &session.access_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
    auth.change_password(with_token(
        pb::ChangePasswordRequest {
            current_password: PASSWORD.into(),
            new_password: "NewSecret2027".into(),
        },
        &session.access_token,
    ))
    .await
    .unwrap();
    assert_eq!(
        h.try_login("jiefangbei", PASSWORD).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    h.try_login("jiefangbei", "NewSecret2027")
        .await
        .expect("new password works");
    let old = auth
        .refresh_token(pb::RefreshTokenRequest {
            refresh_token: session.refresh_token,
        })
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated);
    h.stop().await;
}

async fn audit_chain_detects_tampering(db: TestDb) {
    let h = Harness::start(db).await;
    let auditor = h.token("auditor").await;
    let _ = h.try_login("yuzhong", "WrongPassword1").await;
    h.token("city").await;
    let mut audit = h.audit();
    let verify =
        |mut audit: sanshi_proto::identity::v1::audit_service_client::AuditServiceClient<tonic::transport::Channel>,
         token: String| async move {
            audit
                .verify_audit_chain(with_token(pb::VerifyAuditChainRequest {}, &token))
                .await
                .unwrap()
                .into_inner()
        };
    let clean = verify(audit.clone(), auditor.clone()).await;
    assert!(clean.intact, "{clean:?}");
    assert!(clean.entries_checked >= 4);

    // Only auditors and city admins may verify.
    let yuzhong = h.token("yuzhong").await;
    let denied = audit
        .verify_audit_chain(with_token(pb::VerifyAuditChainRequest {}, &yuzhong))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The database itself refuses edits …
    let refused =
        h.db.conn
            .execute_unprepared("UPDATE audit_log SET detail = 'x' WHERE seq = 1")
            .await;
    assert!(refused.is_err(), "audit log is append-only");
    assert!(
        h.db.conn
            .execute_unprepared("DELETE FROM audit_log WHERE seq = 1")
            .await
            .is_err()
    );
    // … so an attacker with DDL rights drops the triggers first.
    let drop_triggers = match h.db.kind {
        kit::db::DbKind::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
        kit::db::DbKind::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete",
    };
    for statement in drop_triggers.split("; ") {
        h.db.conn.execute_unprepared(statement).await.unwrap();
    }

    // Turn the failed login into a success behind the service's back.
    let failed: i64 =
        h.db.conn
            .query_one_raw(sea_orm::Statement::from_string(
                h.db.conn.get_database_backend(),
                "SELECT seq FROM audit_log WHERE action = 'login' AND outcome = 'failure'".to_string(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "seq")
            .unwrap();
    let set_outcome = |outcome: &str| format!("UPDATE audit_log SET outcome = '{outcome}' WHERE seq = {failed}");
    h.db.conn.execute_unprepared(&set_outcome("success")).await.unwrap();
    let edited = verify(audit.clone(), auditor.clone()).await;
    assert!(!edited.intact);
    assert_eq!(edited.first_broken_sequence, failed, "{edited:?}");

    // Deleting the last entry is caught by the head.
    h.db.conn.execute_unprepared(&set_outcome("failure")).await.unwrap();
    assert!(verify(audit.clone(), auditor.clone()).await.intact, "restored");
    h.db.conn
        .execute_unprepared("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)")
        .await
        .unwrap();
    assert!(!verify(audit.clone(), auditor.clone()).await.intact);
    // … and so is rewriting the head to the new last entry: the head is
    // anchored with the audit key, which is not in the database.
    let last = "SELECT seq, hash FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)";
    let row =
        h.db.conn
            .query_one_raw(sea_orm::Statement::from_string(
                h.db.conn.get_database_backend(),
                last.to_string(),
            ))
            .await
            .unwrap()
            .unwrap();
    let (seq, hash): (i64, String) = (row.try_get("", "seq").unwrap(), row.try_get("", "hash").unwrap());
    h.db.conn
        .execute_unprepared(&format!("UPDATE audit_head SET seq = {seq}, hash = '{hash}'"))
        .await
        .unwrap();
    let truncated = verify(audit.clone(), auditor.clone()).await;
    assert!(!truncated.intact, "{truncated:?}");

    h.stop().await;
}

/// Rolling the log back to an older state (entries and an anchored head,
/// as a restored backup would have them) is found by the checkpoint.
async fn audit_chain_detects_a_replayed_head(db: TestDb) {
    let h = Harness::start(db).await;
    let auditor = h.token("auditor").await;
    let mut audit = h.audit();
    let head_now = |h: &Harness| {
        let conn = h.db.conn.clone();
        async move {
            let row = conn
                .query_one_raw(sea_orm::Statement::from_string(
                    conn.get_database_backend(),
                    "SELECT seq, hash, mac FROM audit_head".to_string(),
                ))
                .await
                .unwrap()
                .unwrap();
            let seq: i64 = row.try_get("", "seq").unwrap();
            let hash: String = row.try_get("", "hash").unwrap();
            let mac: String = row.try_get("", "mac").unwrap();
            (seq, hash, mac)
        }
    };
    let (old_seq, old_hash, old_mac) = head_now(&h).await;
    // More happens, and is verified (the checkpoint).
    h.token("city").await;
    let _ = h.try_login("yuzhong", "WrongPassword1").await;
    let verified = audit
        .verify_audit_chain(with_token(pb::VerifyAuditChainRequest {}, &auditor))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.intact);
    let drop_triggers = match h.db.kind {
        kit::db::DbKind::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
        kit::db::DbKind::Sqlite => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete",
    };
    for statement in drop_triggers.split("; ") {
        h.db.conn.execute_unprepared(statement).await.unwrap();
    }
    h.db.conn
        .execute_unprepared(&format!("DELETE FROM audit_log WHERE seq > {old_seq}"))
        .await
        .unwrap();
    h.db.conn
        .execute_unprepared(&format!(
            "UPDATE audit_head SET seq = {old_seq}, hash = '{old_hash}', mac = '{old_mac}'"
        ))
        .await
        .unwrap();
    let replayed = audit
        .verify_audit_chain(with_token(pb::VerifyAuditChainRequest {}, &auditor))
        .await
        .unwrap()
        .into_inner();
    assert!(!replayed.intact, "{replayed:?}");
    h.stop().await;
}

async fn create_account_is_idempotent(db: TestDb) {
    let h = Harness::start(db).await;
    let city = h.token("city").await;
    let mut request = new_account("retry_me", "500103", &[]);
    request.request_id = "req-42".into();
    let first = h
        .accounts()
        .create_account(with_token(request.clone(), &city))
        .await
        .unwrap()
        .into_inner();
    let second = h
        .accounts()
        .create_account(with_token(request, &city))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, second.id);
    let listed = h
        .accounts()
        .list_accounts(with_token(
            pb::ListAccountsRequest {
                page_size: 500,
                ..Default::default()
            },
            &city,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.accounts.iter().filter(|a| a.username == "retry_me").count(), 1);
    h.stop().await;
}

async fn keys_rotate_without_breaking_live_tokens(db: TestDb) {
    let h = Harness::start(db).await;
    let before = h.token("city").await;
    let mut auth = h.auth();
    let kid = auth
        .rotate_signing_key(with_token(pb::RotateSigningKeyRequest {}, &before))
        .await
        .unwrap()
        .into_inner()
        .kid;
    let jwks = auth.get_jwks(pb::GetJwksRequest {}).await.unwrap().into_inner();
    assert_eq!(jwks.keys.len(), 2, "old key stays published");
    assert!(jwks.keys.iter().all(|k| k.alg == "EdDSA" && k.crv == "Ed25519"));
    let after = h.token("city").await;
    let header = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_eq!(header(&after), kid);
    // Both verify at this service …
    for token in [&before, &after] {
        h.accounts()
            .get_account(with_token(pb::GetAccountRequest { id: "me".into() }, token))
            .await
            .unwrap();
    }
    // … and at any other service that verifies through the JWKS RPC.
    let verifier = kit::auth::Verifier::new(
        "sanshi-identity",
        "sanshi",
        kit::auth::jwks_from_identity(h.channel.clone()),
    );
    for token in [&before, &after] {
        verifier.verify(token).await.expect("verifies via jwks");
    }
    let street = h.token("jiefangbei").await;
    let denied = auth
        .rotate_signing_key(with_token(pb::RotateSigningKeyRequest {}, &street))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    h.stop().await;
}

async fn services_get_client_credential_tokens(db: TestDb) {
    let h = Harness::start(db).await;
    let mut auth = h.auth();
    let token = auth
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: "matching".into(),
            client_secret: SERVICE_SECRET.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let verifier = kit::auth::Verifier::new(
        "sanshi-identity",
        "sanshi",
        kit::auth::jwks_from_identity(h.channel.clone()),
    );
    assert!(verifier.verify(&token.access_token).await.unwrap().is_service());
    let wrong = auth
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: "matching".into(),
            client_secret: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    // A service account cannot log in as a person, nor a person as a service.
    assert_eq!(
        h.try_login("matching", SERVICE_SECRET).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    h.stop().await;
}

async fn account_changes_are_published_as_events(db: TestDb) {
    use sanshi_proto::events::v1::{SubscribeRequest, event_stream_service_client::EventStreamServiceClient};
    let h = Harness::start(db).await;
    let city = h.token("city").await;
    let created = h
        .accounts()
        .create_account(with_token(new_account("eventful", "500103", &[]), &city))
        .await
        .unwrap()
        .into_inner();
    h.accounts()
        .grant_role(with_token(
            pb::GrantRoleRequest {
                account_id: created.id.clone(),
                grant: Some(pb::RoleGrant {
                    role: pb::Role::Reviewer as i32,
                    region_code: "500103".into(),
                }),
            },
            &city,
        ))
        .await
        .unwrap();

    let service = h
        .auth()
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: "matching".into(),
            client_secret: SERVICE_SECRET.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .access_token;
    let mut stream = EventStreamServiceClient::new(h.channel.clone())
        .subscribe(with_token(SubscribeRequest { after_sequence: 0 }, &service))
        .await
        .unwrap()
        .into_inner();
    let mut mine = Vec::new();
    let mut last_sequence = 0;
    while mine.len() < 2 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), stream.message())
            .await
            .expect("events arrive")
            .unwrap()
            .expect("stream open");
        assert_eq!(event.sequence, last_sequence + 1, "dense sequence");
        last_sequence = event.sequence;
        if event.aggregate_id == created.id {
            mine.push(event);
        }
    }
    let account: pb::AccountCreated = kit::events::decode(&mine[0]).expect("AccountCreated first").unwrap();
    assert_eq!(account.username, "eventful");
    let grant: pb::RoleGranted = kit::events::decode(&mine[1]).expect("RoleGranted next").unwrap();
    assert_eq!(grant.grant.unwrap().role, pb::Role::Reviewer as i32);

    // People cannot read the stream.
    let denied = EventStreamServiceClient::new(h.channel.clone())
        .subscribe(with_token(SubscribeRequest { after_sequence: 0 }, &city))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    h.stop().await;
}

async fn health_and_reflection_are_served(db: TestDb) {
    let h = Harness::start(db).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(h.channel.clone());
    for service in [
        "",
        "sanshi.identity.v1.AccountService",
        "sanshi.identity.v1.AuthService",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
    h.stop().await;
}

kit::db_tests!(
    regions_are_seeded_from_real_data,
    admins_act_only_inside_their_scope,
    updates_and_role_changes_respect_scope_and_rank,
    service_tokens_do_not_administer,
    bad_input_reports_every_field,
    phone_is_encrypted_and_masked,
    lockout_after_five_failures,
    refresh_rotates_and_detects_reuse,
    password_change_revokes_sessions,
    audit_chain_detects_tampering,
    audit_chain_detects_a_replayed_head,
    create_account_is_idempotent,
    keys_rotate_without_breaking_live_tokens,
    services_get_client_credential_tokens,
    account_changes_are_published_as_events,
    health_and_reflection_are_served,
);
