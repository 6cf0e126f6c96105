//! Listing and ending sessions: one's own (account page) and any user's (admins).
//! Starting a session belongs to [`crate::login`].

use vigil_auth::audit::{Actor, AuditAction, Event};
use vigil_auth::sessions::{self, Session};

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::ids::{SessionId, UserId};

impl Identity {
    /// The live sessions of `user_id`, newest first (the user must exist).
    pub async fn list_sessions(&self, user_id: &UserId) -> Result<Vec<Session>> {
        self.user(user_id).await?;
        Ok(sessions::list(&self.db, user_id.as_str()).await?)
    }

    /// Ends the caller's own session `id`; [`Error::NotFound`] when it is not theirs.
    pub async fn revoke_own_session(
        &self,
        actor: &Actor,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<()> {
        self.revoke_session(actor, owner, id, false).await
    }

    /// Ends session `id` of user `owner` (an admin acting; the record names the user).
    pub async fn revoke_user_session(
        &self,
        actor: &Actor,
        owner: &UserId,
        id: &SessionId,
    ) -> Result<()> {
        self.revoke_session(actor, owner, id, true).await
    }

    /// Ends `owner`'s session `id` and records it; [`Error::NotFound`] when `owner` has
    /// no such session.
    async fn revoke_session(
        &self,
        actor: &Actor,
        owner: &UserId,
        id: &SessionId,
        name_owner: bool,
    ) -> Result<()> {
        if !sessions::revoke(&self.db, id.as_str(), Some(owner.as_str())).await? {
            return Err(Error::NotFound("session"));
        }
        let mut event = Event::new(AuditAction::SessionRevoke).target("session", id.to_string());
        if name_owner {
            event = event.detail("user", owner.to_string());
        }
        self.record(actor, event).await;
        Ok(())
    }

    /// Ends every session of `owner`; returns how many ended.
    pub async fn revoke_all_sessions(&self, actor: &Actor, owner: &UserId) -> Result<u64> {
        self.user(owner).await?;
        let revoked = sessions::revoke_all(&self.db, owner.as_str(), None).await?;
        self.record(
            actor,
            Event::new(AuditAction::SessionRevokeAll)
                .target("user", owner.to_string())
                .detail("count", revoked),
        )
        .await;
        Ok(revoked)
    }
}
