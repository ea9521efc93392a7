//! One typed method on `TestApp` per GraphQL operation, so a test reads as the user's story
//! (`app.issue_reset(by).await.accepted`), with the documents of `documents.graphql`. An answer
//! keeps the whole response body too: for failure messages, for top-level errors, and for the
//! tests that compare two answers whole.
// Until every test file speaks through these methods, some have no caller yet.
#![allow(dead_code)]
use std::{fmt, ops::Deref};

use graphql_client::GraphQLQuery;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{documents::*, helpers::TestApp};

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

/// Who sends an operation: a bearer token, a preferred language.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller<'a> {
    pub bearer: Option<&'a str>,
    pub lang: Option<&'a str>,
}

impl<'a> Caller<'a> {
    pub fn bearer(token: &'a str) -> Self {
        Caller {
            bearer: Some(token),
            lang: None,
        }
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

impl TestApp {
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
        let site = site.map(str::to_owned);
        self.send::<FindId, _>(Caller::default(), "findId", find_id::Variables { by, site })
            .await
    }

    pub async fn check_login_id(&self, site: Option<&str>, login_id: &str) -> Answer<LoginIdCheck> {
        let (site, login_id) = (site.map(str::to_owned), login_id.to_owned());
        let variables = check_login_id::Variables { site, login_id };
        self.send::<CheckLoginId, _>(Caller::default(), "checkLoginId", variables)
            .await
    }

    pub async fn password_policy(&self, site: Option<&str>) -> Answer<Policy> {
        let site = site.map(str::to_owned);
        self.send::<PasswordPolicy, _>(
            Caller::default(),
            "passwordPolicy",
            password_policy::Variables { site },
        )
        .await
    }

    /// `issueResetToken(by:)` on the default site.
    pub async fn issue_reset(&self, by: Value) -> Answer<Issued> {
        self.issue_reset_as(Caller::default(), by).await
    }

    pub async fn issue_reset_as(&self, caller: Caller<'_>, by: Value) -> Answer<Issued> {
        self.send::<IssueReset, _>(
            caller,
            "issueResetToken",
            issue_reset::Variables { by, site: None },
        )
        .await
    }

    pub async fn verify_reset(&self, credential: Value) -> Answer<Verified> {
        let variables = verify_reset::Variables {
            credential,
            site: None,
        };
        self.send::<VerifyReset, _>(Caller::default(), "verifyResetToken", variables)
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
        self.send::<ResetPassword, _>(Caller::default(), "resetPassword", variables)
            .await
    }

    pub async fn report_unrecognized_change(&self, token: &str) -> Answer<Reported> {
        let variables = report_unrecognized_change::Variables {
            token: token.to_owned(),
        };
        self.send::<ReportUnrecognizedChange, _>(Caller::default(), "reportUnrecognizedChange", variables)
            .await
    }

    pub async fn sign_in(&self, login_id: &str, password: &str) -> Answer<SignedIn> {
        self.sign_in_on(None, login_id, password).await
    }

    pub async fn sign_in_on(&self, site: Option<&str>, login_id: &str, password: &str) -> Answer<SignedIn> {
        let variables = sign_in::Variables {
            site: site.map(str::to_owned),
            login_id: login_id.to_owned(),
            password: password.to_owned(),
        };
        self.send::<SignIn, _>(Caller::default(), "signIn", variables)
            .await
    }

    pub async fn reauthenticate(&self, bearer: &str, password: &str) -> Answer<Reauthenticated> {
        let variables = reauthenticate::Variables {
            password: password.to_owned(),
        };
        self.send::<Reauthenticate, _>(Caller::bearer(bearer), "reauthenticate", variables)
            .await
    }

    pub async fn change_password(&self, bearer: &str, input: Value) -> Answer<Changed> {
        let variables = change_password::Variables { input };
        self.send::<ChangePassword, _>(Caller::bearer(bearer), "changePassword", variables)
            .await
    }

    pub async fn generate_recovery_codes(&self, bearer: &str) -> Answer<RecoveryCodes> {
        let variables = generate_recovery_codes::Variables;
        self.send::<GenerateRecoveryCodes, _>(Caller::bearer(bearer), "generateRecoveryCodes", variables)
            .await
    }

    pub async fn sign_out(&self, bearer: &str) -> Answer<bool> {
        self.send::<SignOut, _>(Caller::bearer(bearer), "signOut", sign_out::Variables)
            .await
    }

    pub async fn me(&self, bearer: &str) -> Answer<MyProfile> {
        self.send::<Me, _>(Caller::bearer(bearer), "me", me::Variables)
            .await
    }

    pub async fn recovery_activity(
        &self,
        bearer: &str,
        first: Option<i64>,
        after: Option<&str>,
    ) -> Answer<MyActivity> {
        let variables = recovery_activity::Variables {
            first,
            after: after.map(str::to_owned),
        };
        self.send::<RecoveryActivity, _>(Caller::bearer(bearer), "me", variables)
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

/// Whose reset `issue_reset` asks for (`ResetRequest`).
pub mod by {
    use serde_json::{Value, json};

    pub fn email(email: &str) -> Value {
        json!({"email": email})
    }

    pub fn account(login_id: &str, email: &str) -> Value {
        json!({"account": {"loginId": login_id, "email": email}})
    }

    pub fn identity(login_id: &str, ci: &str) -> Value {
        json!({"identity": {"loginId": login_id, "ci": ci}})
    }
}

/// What `verify_reset` and `reset_password` present (`ResetCredential`).
pub mod credential {
    use serde::Serialize;
    use serde_json::{Value, json};

    /// A link's or a direct token (any JSON string or null, as a test got it).
    pub fn token(token: impl Serialize) -> Value {
        json!({ "token": token })
    }

    pub fn code_by_email(email: &str, code: &str) -> Value {
        json!({"code": {"email": email, "code": code}})
    }

    pub fn code_by_login_id(login_id: &str, code: &str) -> Value {
        json!({"code": {"loginId": login_id, "code": code}})
    }
}
