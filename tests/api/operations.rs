//! One typed method per GraphQL operation, on `Endpoint` (so on `TestApp` and on a service
//! process alike), so a test reads as the user's story (`app.issue_reset(by).await.accepted`),
//! with the documents of `documents.graphql`. An answer keeps the whole response body too: for
//! failure messages, for top-level errors, and for the tests that compare two answers whole.
use std::{fmt, ops::Deref};

use graphql_client::GraphQLQuery;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::inputs::{by, change, credential, find};
use crate::{documents::*, helpers::Endpoint};

/// What an operation answered: its payload when it ran, and the response body.
#[derive(Debug, Clone)]
pub struct Answer<P> {
    pub payload: Option<P>,
    pub body: Value,
}

/// Reads the payload; a test that expected one and got top-level errors fails with the body.
impl<P> Deref for Answer<P> {
    type Target = P;
    fn deref(&self) -> &P {
        self.payload
            .as_ref()
            .unwrap_or_else(|| panic!("no payload: {}", self.body))
    }
}

impl<P> fmt::Display for Answer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.body.fmt(f)
    }
}

impl<P> Answer<P> {
    /// The `extensions.code` of the first top-level error.
    pub fn top_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// The `extensions.retryAfter` (seconds) of the first top-level error.
    pub fn retry_after(&self) -> Option<u64> {
        self.body["errors"][0]["extensions"]["retryAfter"].as_u64()
    }
}

/// A payload's `errors`: (code, field) pairs, the field as JSON (`["input", "newPassword"]`).
pub trait UserErrors {
    fn user_errors(&self) -> Vec<(String, Value)>;

    fn codes(&self) -> Vec<String> {
        self.user_errors().into_iter().map(|(code, _)| code).collect()
    }
}

impl<P: UserErrors> Answer<P> {
    /// The payload's error codes; without a payload, the top-level error's code.
    pub fn codes(&self) -> Vec<String> {
        match &self.payload {
            Some(payload) => payload.codes(),
            None => vec![self.top_code().unwrap_or("?").to_owned()],
        }
    }
}

macro_rules! user_errors {
    ($($payload:ty),* $(,)?) => {$(
        impl UserErrors for $payload {
            fn user_errors(&self) -> Vec<(String, Value)> {
                self.errors.iter().map(|e| (e.code.clone(), serde_json::json!(e.field))).collect()
            }
        }
    )*};
}

pub type FoundIds = find_id::FindIdFindId;
pub type LoginIdCheck = check_login_id::CheckLoginIdCheckLoginId;
pub type Policy = password_policy::PasswordPolicyPasswordPolicy;
pub type Issued = issue_reset::IssueResetIssueResetToken;
pub type Verified = verify_reset::VerifyResetVerifyResetToken;
pub type Reset = reset_password::ResetPasswordResetPassword;
pub type Reported = report_unrecognized_change::ReportUnrecognizedChangeReportUnrecognizedChange;
pub type SignedIn = sign_in::SignInSignIn;
pub type Reauthenticated = reauthenticate::ReauthenticateReauthenticate;
pub type Changed = change_password::ChangePasswordChangePassword;
pub type RecoveryCodes = generate_recovery_codes::GenerateRecoveryCodesGenerateRecoveryCodes;
pub type MyProfile = Option<me::MeMe>;
pub type MyActivity = Option<recovery_activity::RecoveryActivityMe>;
pub type ActivityPage = recovery_activity::RecoveryActivityMeRecoveryActivity;

user_errors!(
    FoundIds,
    LoginIdCheck,
    Issued,
    Verified,
    Reset,
    Reported,
    SignedIn,
    Reauthenticated,
    Changed,
    RecoveryCodes
);

/// Who sends an operation: a bearer token, a preferred language. A token converts into one
/// (`app.me(&token)`); `Caller::ANONYMOUS` sends neither.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    pub bearer: Option<&'a str>,
    pub lang: Option<&'a str>,
    /// `X-Challenge-Solution`: a solved challenge, for a call past a target's limit.
    pub solution: Option<&'a str>,
    /// `X-Device-Token`: the device token a sign-in returned.
    pub device: Option<&'a str>,
}

impl Caller<'_> {
    pub const ANONYMOUS: Caller<'static> = Caller {
        bearer: None,
        lang: None,
        solution: None,
        device: None,
    };

    /// An anonymous call with a solved challenge.
    pub fn solving(solution: &str) -> Caller<'_> {
        Caller {
            solution: Some(solution),
            ..Caller::ANONYMOUS
        }
    }

    /// An anonymous call from a device that signed in before.
    pub fn device(token: &str) -> Caller<'_> {
        Caller {
            device: Some(token),
            ..Caller::ANONYMOUS
        }
    }

    pub fn lang(lang: &str) -> Caller<'_> {
        Caller {
            lang: Some(lang),
            ..Caller::ANONYMOUS
        }
    }
}

impl<'a> From<&'a str> for Caller<'a> {
    fn from(token: &'a str) -> Self {
        Caller {
            bearer: Some(token),
            ..Caller::ANONYMOUS
        }
    }
}

impl<'a> From<&'a String> for Caller<'a> {
    fn from(token: &'a String) -> Self {
        token.as_str().into()
    }
}

/// The request body of operation `Q`: its own document (not the whole file) and `variables`.
pub fn sendable<Q: GraphQLQuery>(variables: Q::Variables) -> Value {
    let body = Q::build_query(variables);
    serde_json::json!({
        "query": operation_text(body.query, body.operation_name),
        "operationName": body.operation_name,
        "variables": body.variables,
    })
}

/// Asserts that a stranger cannot tell two answers apart: equal whole (data and top-level errors),
/// except `retryAfter`, whose whole seconds may round apart by one, as two windows that each
/// started with their own first attempt, one request apart.
pub fn assert_alike<P>(known: &Answer<P>, unknown: &Answer<P>, what: impl fmt::Display) {
    let retry = |answer: &Answer<P>| {
        let mut body = answer.body.clone();
        let extensions = body
            .get_mut("errors")
            .and_then(|errors| errors.get_mut(0)?.get_mut("extensions")?.as_object_mut());
        let retry = extensions.and_then(|extensions| {
            // A challenge's nonce is random and its expiry the second it was made: alike when
            // both have one, of the same difficulty.
            if let Some(challenge) = extensions.get_mut("challenge").and_then(Value::as_object_mut) {
                challenge.remove("nonce");
                challenge.remove("expiresAt");
            }
            extensions.remove("retryAfter")
        });
        let retry = retry.map(|r| r.as_i64().expect("retryAfter in seconds"));
        (body, retry)
    };
    let ((known_body, k), (unknown_body, u)) = (retry(known), retry(unknown));
    assert_eq!(k.is_some(), u.is_some(), "{what}: {known} / {unknown}");
    assert!(
        (k.unwrap_or(0) - u.unwrap_or(0)).abs() <= 1,
        "{what}: {k:?} vs {u:?}"
    );
    assert_eq!(known_body, unknown_body, "{what}");
}

impl Endpoint {
    /// Sends operation `Q` and reads its root field `field` as the payload.
    pub async fn send<Q: GraphQLQuery, P: DeserializeOwned>(
        &self,
        caller: Caller<'_>,
        field: &str,
        variables: Q::Variables,
    ) -> Answer<P> {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&sendable::<Q>(variables));
        if let Some(token) = caller.bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(lang) = caller.lang {
            request = request.header("accept-language", lang);
        }
        if let Some(solution) = caller.solution {
            request = request.header("x-challenge-solution", solution);
        }
        if let Some(device) = caller.device {
            request = request.header("x-device-token", device);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200, "[{}] status", self.backend);
        let body: Value = response.json().await.expect("json body");
        let payload = match &body["data"][field] {
            Value::Null if body["errors"].is_array() => None,
            data => Some(serde_json::from_value(data.clone()).unwrap_or_else(|e| {
                panic!(
                    "[{}] {field} does not read as its type: {e}: {body}",
                    self.backend
                )
            })),
        };
        Answer { payload, body }
    }

    pub async fn find_id(&self, site: Option<&str>, by: Value) -> Answer<FoundIds> {
        self.find_id_as(Caller::ANONYMOUS, site, by).await
    }

    pub async fn find_id_as(&self, caller: Caller<'_>, site: Option<&str>, by: Value) -> Answer<FoundIds> {
        let site = site.map(str::to_owned);
        self.send::<FindId, _>(caller, "findId", find_id::Variables { by, site })
            .await
    }

    pub async fn check_login_id(&self, site: Option<&str>, login_id: &str) -> Answer<LoginIdCheck> {
        let (site, login_id) = (site.map(str::to_owned), login_id.to_owned());
        let variables = check_login_id::Variables { site, login_id };
        self.send::<CheckLoginId, _>(Caller::ANONYMOUS, "checkLoginId", variables)
            .await
    }

    pub async fn password_policy(&self, site: Option<&str>) -> Answer<Policy> {
        let site = site.map(str::to_owned);
        self.send::<PasswordPolicy, _>(
            Caller::ANONYMOUS,
            "passwordPolicy",
            password_policy::Variables { site },
        )
        .await
    }

    /// `issueResetToken(by:)` on the default site.
    pub async fn issue_reset(&self, by: Value) -> Answer<Issued> {
        self.issue_reset_as(Caller::ANONYMOUS, by).await
    }

    pub async fn issue_reset_as(&self, caller: Caller<'_>, by: Value) -> Answer<Issued> {
        self.send::<IssueReset, _>(
            caller,
            "issueResetToken",
            issue_reset::Variables { by, site: None },
        )
        .await
    }

    /// The token of a direct (identity) reset; fails the test if none is issued.
    pub async fn direct_reset_token(&self, login_id: &str, ci: &str) -> String {
        let issued = self.issue_reset(by::identity(login_id, ci)).await;
        issued
            .token
            .clone()
            .unwrap_or_else(|| panic!("[{}] no direct token for {login_id}: {issued}", self.backend))
    }

    pub async fn verify_reset(&self, credential: Value) -> Answer<Verified> {
        let variables = verify_reset::Variables {
            credential,
            site: None,
        };
        self.send::<VerifyReset, _>(Caller::ANONYMOUS, "verifyResetToken", variables)
            .await
    }

    /// `resetPassword` with `credential` and the new password (and its confirmation, if given).
    pub async fn reset_password(
        &self,
        credential: Value,
        password: &str,
        confirmation: Option<&str>,
    ) -> Answer<Reset> {
        let input = serde_json::json!({
            "credential": credential, "newPassword": password, "newPasswordConfirmation": confirmation
        });
        let variables = reset_password::Variables { input, site: None };
        self.send::<ResetPassword, _>(Caller::ANONYMOUS, "resetPassword", variables)
            .await
    }

    pub async fn report_unrecognized_change(&self, token: &str) -> Answer<Reported> {
        let variables = report_unrecognized_change::Variables {
            token: token.to_owned(),
        };
        self.send::<ReportUnrecognizedChange, _>(Caller::ANONYMOUS, "reportUnrecognizedChange", variables)
            .await
    }

    pub async fn sign_in(&self, login_id: &str, password: &str) -> Answer<SignedIn> {
        self.sign_in_as(Caller::ANONYMOUS, login_id, password).await
    }

    pub async fn sign_in_as(&self, caller: Caller<'_>, login_id: &str, password: &str) -> Answer<SignedIn> {
        let variables = sign_in::Variables {
            site: None,
            login_id: login_id.to_owned(),
            password: password.to_owned(),
        };
        self.send::<SignIn, _>(caller, "signIn", variables).await
    }

    /// Signs in and returns the access token; fails the test if the sign-in is refused.
    pub async fn access_token(&self, login_id: &str, password: &str) -> String {
        let signed_in = self.sign_in(login_id, password).await;
        signed_in
            .access_token
            .clone()
            .unwrap_or_else(|| panic!("[{}] sign-in of {login_id} failed: {signed_in}", self.backend))
    }

    pub async fn reauthenticate<'a>(
        &self,
        caller: impl Into<Caller<'a>>,
        password: &str,
    ) -> Answer<Reauthenticated> {
        let variables = reauthenticate::Variables {
            password: password.to_owned(),
        };
        self.send::<Reauthenticate, _>(caller.into(), "reauthenticate", variables)
            .await
    }

    /// `changePassword(input:)`; `change::…` builds the usual inputs.
    pub async fn change_password<'a>(&self, caller: impl Into<Caller<'a>>, input: Value) -> Answer<Changed> {
        let variables = change_password::Variables { input };
        self.send::<ChangePassword, _>(caller.into(), "changePassword", variables)
            .await
    }

    pub async fn generate_recovery_codes<'a>(&self, caller: impl Into<Caller<'a>>) -> Answer<RecoveryCodes> {
        let variables = generate_recovery_codes::Variables;
        self.send::<GenerateRecoveryCodes, _>(caller.into(), "generateRecoveryCodes", variables)
            .await
    }

    pub async fn sign_out<'a>(&self, caller: impl Into<Caller<'a>>) -> Answer<bool> {
        self.send::<SignOut, _>(caller.into(), "signOut", sign_out::Variables)
            .await
    }

    pub async fn me<'a>(&self, caller: impl Into<Caller<'a>>) -> Answer<MyProfile> {
        self.send::<Me, _>(caller.into(), "me", me::Variables).await
    }

    pub async fn recovery_activity<'a>(
        &self,
        caller: impl Into<Caller<'a>>,
        first: Option<i64>,
        after: Option<&str>,
    ) -> Answer<MyActivity> {
        let variables = recovery_activity::Variables {
            first,
            after: after.map(str::to_owned),
        };
        self.send::<RecoveryActivity, _>(caller.into(), "me", variables)
            .await
    }
}

macro_rules! profile {
    ($($payload:ty => $profile:ty),* $(,)?) => {$(
        impl $payload {
            /// The member of a successful answer.
            pub fn profile(&self) -> &$profile {
                self.member.as_ref().unwrap_or_else(|| panic!("no member: {self:?}"))
            }
        }
    )*};
}

profile!(
    Reset => reset_password::Profile,
    SignedIn => sign_in::Profile,
    Changed => change_password::Profile,
);

impl Answer<MyProfile> {
    /// The signed-in member; fails the test when the answer has none.
    pub fn member(&self) -> &me::Profile {
        self.as_ref()
            .unwrap_or_else(|| panic!("no signed-in member: {}", self.body))
    }
}

impl Answer<MyActivity> {
    /// The page of the signed-in member's events; fails the test when the answer has none.
    pub fn page(&self) -> &ActivityPage {
        let me = self.as_ref();
        let me = me.unwrap_or_else(|| panic!("no signed-in member: {}", self.body));
        &me.recovery_activity
    }
}

impl ActivityPage {
    /// The page's events as (kind, outcome), newest first.
    pub fn events(&self) -> Vec<(String, String)> {
        self.edges
            .iter()
            .map(|e| (e.node.kind.clone(), e.node.outcome.clone()))
            .collect()
    }
}
