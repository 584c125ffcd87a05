//! One-time phone codes: `AuthService.RequestPhoneCode` texts one, and
//! registration spends it (`domain::phone_code` has the rules).
//!
//! Nothing here discloses whether a number has an account: a request for a
//! registered number is limited, counted, stored and answered exactly as
//! any other, only the text is never sent (so nobody can hold its code);
//! texts go out after the answer, so the provider's delay tells nothing
//! either. Registering with a registered number then fails as a wrong code.

use super::Identity;
use crate::domain::lockout::LoginSource;
use crate::domain::phone_code::{
    PhoneCodePolicy, Purpose, RATE_WINDOW, Verdict, WRONG_CODE, check, code_mac, message, new_code, next_send_at,
    phone_bucket, rate_limit_message, source_bucket,
};
use crate::sms::SmsSender;
use crate::store;
use chrono::Utc;
use kit::error::Violations;
use kit::pii::PhoneNumber;
use kit::{ServiceError, ServiceResult};
use sanshi_proto::identity::v1 as pb;
use sea_orm::ConnectionTrait;
use std::sync::Arc;

/// What the codes need, from config.
pub struct PhoneCodes {
    pub policy: PhoneCodePolicy,
    /// Keys the codes' stored MACs (derived from `pii.hash_key`).
    pub key: [u8; 32],
    /// Who texts the codes; `None` when no provider is configured.
    pub sms: Option<Arc<dyn SmsSender>>,
}

/// A code that matched: spent by [`Identity::spend_phone_code`] inside the
/// transaction that uses it, so that it stays valid if that fails.
pub struct PhoneCodeProof {
    phone_hash: String,
    purpose: Purpose,
    mac: String,
}

/// The answer to a wrong, expired, spent or voided code, and to a number
/// that already has an account.
pub fn wrong_code() -> ServiceError {
    ServiceError::invalid("phone_code", WRONG_CODE)
}

impl Identity {
    /// The number's keyed hash in the code tables; another purpose than the
    /// accounts' `phone` hash, so that those rows cannot be joined to accounts.
    fn phone_code_hash(&self, phone: &PhoneNumber) -> String {
        self.cipher.lookup_hash("phone-code", phone.as_str())
    }

    pub async fn request_phone_code(
        &self,
        req: pb::RequestPhoneCodeRequest,
        source: LoginSource,
    ) -> ServiceResult<pb::RequestPhoneCodeResponse> {
        let mut v = Violations::new();
        let phone = v.check("phone", PhoneNumber::parse(&req.phone));
        let purpose = match pb::PhoneCodePurpose::try_from(req.purpose) {
            Ok(pb::PhoneCodePurpose::Registration) => Some(Purpose::Registration),
            _ => {
                v.add("purpose", "请指明验证码用途");
                None
            }
        };
        v.into_result()?;
        let (Some(phone), Some(purpose)) = (phone, purpose) else {
            return Err(ServiceError::invalid("phone", "手机号码格式不正确"));
        };
        let Some(sms) = self.phone_codes.sms.clone() else {
            return Err(ServiceError::Unavailable("短信服务未配置，暂时无法发送验证码".into()));
        };
        let policy = self.phone_codes.policy;
        let phone_hash = self.phone_code_hash(&phone);
        let by_phone = phone_bucket(&phone_hash);
        let by_source = source_bucket(&self.cipher.lookup_hash("phone-code-source", source.as_str()));
        // One request at a time per number and per address, so that parallel
        // requests cannot all pass the limits before any is counted. (Always
        // the number's turn first: nobody holding an address's turn waits
        // for a number's.)
        let phone_turn = self.attempts.turn(&format!("code-{by_phone}")).await;
        let source_turn = self.attempts.turn(&format!("code-{by_source}")).await;

        let now = Utc::now();
        let since = now - RATE_WINDOW;
        let phone_sends = store::phone_codes::requests_since(&self.db, &by_phone, since).await?;
        let source_sends = store::phone_codes::requests_since(&self.db, &by_source, since).await?;
        if let Some(until) = next_send_at(&policy, &phone_sends, &source_sends, now) {
            let wait = until - now;
            tracing::info!(
                source = %source,
                purpose = purpose.as_str(),
                retry_after_secs = wait.num_seconds().max(1),
                "phone code refused: too many requests"
            );
            return Err(ServiceError::ResourceExhausted(rate_limit_message(wait)));
        }

        let registered =
            store::accounts::phone_registered(&self.db, &self.cipher.lookup_hash("phone", phone.as_str())).await?;
        // A registered number gets a code too, stored alike, that is never
        // sent: the work, the rows and the answer are the same.
        let code = new_code(&mut rand::rngs::OsRng);
        let txn = kit::db::begin(&self.db).await?;
        store::phone_codes::forget(&txn, since, now).await?;
        store::phone_codes::record_request(&txn, &[by_phone, by_source], now).await?;
        let mac = code_mac(&self.phone_codes.key, purpose, &phone_hash, &code);
        store::phone_codes::replace(&txn, &phone_hash, purpose, mac, now + policy.ttl, now).await?;
        txn.commit().await?;
        drop(source_turn);
        drop(phone_turn);

        if !registered {
            let text = message(&code, policy.ttl);
            // After answering: how long the provider takes must not tell
            // whether the number has an account. A failure is only logged
            // (the person asks again once `resend_after` has passed).
            tokio::spawn(async move {
                if let Err(error) = sms.send(&phone, &text).await {
                    tracing::warn!(error = %error, purpose = purpose.as_str(), "phone code not sent");
                }
            });
        }
        tracing::info!(source = %source, purpose = purpose.as_str(), "phone code requested");
        Ok(pb::RequestPhoneCodeResponse {
            expires_in: policy.ttl.num_seconds(),
            resend_after: policy.resend_interval.num_seconds(),
        })
    }

    /// Checks the `code` typed for `phone`. A wrong guess counts against the
    /// code, which is void after `max_attempts` of them. Guesses at one
    /// number's code take turns, so that parallel ones get no more tries.
    pub async fn check_phone_code(
        &self,
        purpose: Purpose,
        phone: &PhoneNumber,
        code: &str,
    ) -> ServiceResult<PhoneCodeProof> {
        let phone_hash = self.phone_code_hash(phone);
        let _turn = self.attempts.turn(&format!("code-check:{phone_hash}")).await;
        let presented = code_mac(&self.phone_codes.key, purpose, &phone_hash, code);
        let Some(stored) = store::phone_codes::find(&self.db, &phone_hash, purpose).await? else {
            return Err(wrong_code());
        };
        match check(&self.phone_codes.policy, &stored, &presented, Utc::now()) {
            Verdict::Valid => Ok(PhoneCodeProof {
                phone_hash,
                purpose,
                mac: presented,
            }),
            Verdict::Wrong => {
                store::phone_codes::count_wrong(&self.db, &phone_hash, purpose, &stored.mac).await?;
                tracing::info!(
                    purpose = purpose.as_str(),
                    attempts = stored.attempts + 1,
                    "wrong phone code"
                );
                Err(wrong_code())
            }
            Verdict::Expired | Verdict::Exhausted => Err(wrong_code()),
        }
    }

    /// Spends a checked code inside `txn`: it is gone once `txn` commits. A
    /// concurrent use that spent it first makes this one fail as a wrong code.
    pub async fn spend_phone_code(&self, txn: &impl ConnectionTrait, proof: &PhoneCodeProof) -> ServiceResult<()> {
        let spent = store::phone_codes::spend(
            txn,
            &proof.phone_hash,
            proof.purpose,
            &proof.mac,
            self.phone_codes.policy.max_attempts,
            Utc::now(),
        )
        .await?;
        if spent { Ok(()) } else { Err(wrong_code()) }
    }
}
