// Every GraphQL operation the SPA sends. graphql-codegen types them from ../schema.graphql;
// a field the schema no longer has fails `npm run typecheck`.
import { graphql } from './gql';

graphql(`
  fragment Problem on UserError {
    code
    field
    message
  }
`);

graphql(`
  fragment Profile on MemberProfile {
    loginId
    name
    maskedEmail
    memberType
    passwordChangedAt
    activeSessions
  }
`);

export const PasswordPolicyQuery = graphql(`
  query PasswordPolicy {
    passwordPolicy {
      minLength
      maxLength
      forbidWhitespace
      maxSequentialRun
      maxRepeatedRun
      historySize
      expiresAfterDays
    }
  }
`);

export const FindIdQuery = graphql(`
  query FindId($by: FindIdBy!) {
    findId(by: $by) {
      accounts {
        maskedLoginId
        memberType
        joinedAt
        name
      }
      errors {
        ...Problem
      }
    }
  }
`);

export const CheckLoginIdQuery = graphql(`
  query CheckLoginId($loginId: String!) {
    checkLoginId(loginId: $loginId) {
      exists
      memberType
      canResetPassword
      maskedEmail
      errors {
        ...Problem
      }
    }
  }
`);

export const IssueResetTokenMutation = graphql(`
  mutation IssueResetToken($by: ResetRequest!) {
    issueResetToken(by: $by) {
      accepted
      channel
      maskedDestination
      expiresInSeconds
      token
      errors {
        ...Problem
      }
    }
  }
`);

export const VerifyResetTokenMutation = graphql(`
  mutation VerifyResetToken($credential: ResetCredential!) {
    verifyResetToken(credential: $credential) {
      valid
      token
      maskedLoginId
      errors {
        ...Problem
      }
    }
  }
`);

export const ResetPasswordMutation = graphql(`
  mutation ResetPassword($input: ResetPasswordInput!) {
    resetPassword(input: $input) {
      member {
        loginId
      }
      errors {
        ...Problem
      }
    }
  }
`);

export const SignInMutation = graphql(`
  mutation SignIn($loginId: String!, $password: String!) {
    signIn(loginId: $loginId, password: $password) {
      accessToken
      passwordExpired
      deviceToken
      member {
        ...Profile
      }
      errors {
        ...Problem
      }
    }
  }
`);

export const MeQuery = graphql(`
  query Me {
    me {
      ...Profile
      recoveryCodesLeft
    }
  }
`);

export const ReauthenticateMutation = graphql(`
  mutation Reauthenticate($password: String!) {
    reauthenticate(password: $password) {
      elevatedUntil
      errors {
        ...Problem
      }
    }
  }
`);

export const ChangePasswordMutation = graphql(`
  mutation ChangePassword($input: ChangePasswordInput!) {
    changePassword(input: $input) {
      passwordExpiresAt
      member {
        ...Profile
      }
      errors {
        ...Problem
      }
    }
  }
`);

export const SignOutMutation = graphql(`
  mutation SignOut {
    signOut
  }
`);

export const ReportUnrecognizedChangeMutation = graphql(`
  mutation ReportUnrecognizedChange($token: String!) {
    reportUnrecognizedChange(token: $token) {
      locked
      maskedDestination
      errors {
        ...Problem
      }
    }
  }
`);

export const RecoveryActivityQuery = graphql(`
  query RecoveryActivity($first: Int, $after: String) {
    me {
      recoveryActivity(first: $first, after: $after) {
        edges {
          cursor
          node {
            at
            kind
            outcome
            clientAddress
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);

export const RecoveryCodesLeftQuery = graphql(`
  query RecoveryCodesLeft {
    me {
      loginId
      recoveryCodesLeft
    }
  }
`);

export const GenerateRecoveryCodesMutation = graphql(`
  mutation GenerateRecoveryCodes {
    generateRecoveryCodes {
      codes
      errors {
        ...Problem
      }
    }
  }
`);
