//! The `Portals` implementation both engines share: the Rust is the same, only the SQL
//! differs, so each engine module defines its statements (`UPSERT_PORTAL`, …) and expands
//! [`impl_portals!`] for its store and database type.

macro_rules! impl_portals {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;

        use crate::model::{AuditEntry, Install, Portal, PortalState, SealedTokens};
        use crate::StoreError;

        type PortalRow = (
            i64,
            String,
            Option<String>,
            Option<i64>,
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            i64,
            i64,
            Option<i64>,
        );
        type TokensRow = (String, Vec<u8>, Vec<u8>, i64, i64);

        fn portal(row: PortalRow) -> Portal {
            let (
                portal_id,
                state,
                hub_domain,
                app_id,
                scopes,
                installer_id,
                installer_email,
                reauth_reason,
                installed_at,
                updated_at,
                access_expires_at,
            ) = row;
            Portal {
                portal_id,
                state: PortalState::parse(&state),
                hub_domain,
                app_id,
                scopes: scopes.split_whitespace().map(str::to_owned).collect(),
                installer_id,
                installer_email,
                reauth_reason,
                installed_at,
                updated_at,
                access_expires_at,
            }
        }

        fn tokens(
            (key_id, access, refresh, issued_at, access_expires_at): TokensRow,
        ) -> SealedTokens {
            SealedTokens {
                key_id,
                access,
                refresh,
                issued_at,
                access_expires_at,
            }
        }

        async fn audit(
            conn: &mut <$db as sqlx::Database>::Connection,
            now_ms: i64,
            portal_id: i64,
            action: &str,
            actor: &str,
            detail: &str,
        ) -> Result<(), StoreError> {
            sqlx::query(AUDIT)
                .bind(now_ms)
                .bind(portal_id)
                .bind(action)
                .bind(actor)
                .bind(detail)
                .execute(conn)
                .await?;
            Ok(())
        }

        async fn set_state(
            tx: &mut sqlx::Transaction<'_, $db>,
            portal_id: i64,
            state: PortalState,
            reason: Option<&str>,
            now_ms: i64,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(SET_STATE)
                .bind(state.as_str())
                .bind(reason)
                .bind(now_ms)
                .bind(portal_id)
                .execute(&mut **tx)
                .await?;
            Ok(done.rows_affected())
        }

        /// A portal leaving the installed state: what changes, and how the audit says it.
        struct Retirement<'a> {
            state: PortalState,
            reason: Option<&'a str>,
            action: &'static str,
            actor: &'a str,
        }

        /// Sets the state, drops the tokens and audits, in one transaction.
        async fn retire(
            pool: &sqlx::Pool<$db>,
            portal_id: i64,
            change: Retirement<'_>,
            now_ms: i64,
        ) -> Result<(), StoreError> {
            let mut tx = pool.begin().await?;
            if set_state(&mut tx, portal_id, change.state, change.reason, now_ms).await? == 0 {
                tx.rollback().await?;
                return Err(StoreError::NotFound);
            }
            sqlx::query(DELETE_TOKENS)
                .bind(portal_id)
                .execute(&mut *tx)
                .await?;
            audit(
                &mut tx,
                now_ms,
                portal_id,
                change.action,
                change.actor,
                change.reason.unwrap_or_default(),
            )
            .await?;
            tx.commit().await?;
            Ok(())
        }

        #[async_trait]
        impl $crate::Portals for $store {
            async fn record_install(
                &self,
                install: &Install,
                actor: &str,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let known: i64 = sqlx::query_scalar(PORTAL_EXISTS)
                    .bind(install.portal_id)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(UPSERT_PORTAL)
                    .bind(install.portal_id)
                    .bind(&install.hub_domain)
                    .bind(install.app_id)
                    .bind(install.scopes.join(" "))
                    .bind(install.installer_id)
                    .bind(&install.installer_email)
                    .bind(now_ms)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                let t = &install.tokens;
                sqlx::query(UPSERT_TOKENS)
                    .bind(install.portal_id)
                    .bind(&t.key_id)
                    .bind(&t.access)
                    .bind(&t.refresh)
                    .bind(t.access_expires_at)
                    .bind(t.issued_at)
                    .execute(&mut *tx)
                    .await?;
                let action = if known > 0 {
                    "reinstalled"
                } else {
                    "installed"
                };
                audit(
                    &mut tx,
                    now_ms,
                    install.portal_id,
                    action,
                    actor,
                    &install.scopes.join(" "),
                )
                .await?;
                tx.commit().await?;
                Ok(known > 0)
            }

            async fn portal(&self, portal_id: i64) -> Result<Option<Portal>, StoreError> {
                let sql = format!("{SELECT_PORTALS} WHERE p.portal_id = {FIRST_PARAMETER}");
                let row: Option<PortalRow> = sqlx::query_as(&sql)
                    .bind(portal_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(portal))
            }

            async fn portals(&self) -> Result<Vec<Portal>, StoreError> {
                let sql = format!("{SELECT_PORTALS} ORDER BY p.portal_id");
                let rows: Vec<PortalRow> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(portal).collect())
            }

            async fn tokens(&self, portal_id: i64) -> Result<Option<SealedTokens>, StoreError> {
                let row: Option<TokensRow> = sqlx::query_as(TOKENS)
                    .bind(portal_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(tokens))
            }

            async fn lease_refresh(
                &self,
                portal_id: i64,
                holder: &str,
                until_ms: i64,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(LEASE)
                    .bind(holder)
                    .bind(until_ms)
                    .bind(portal_id)
                    .bind(now_ms)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn store_refreshed(
                &self,
                portal_id: i64,
                holder: &str,
                t: &SealedTokens,
            ) -> Result<(), StoreError> {
                sqlx::query(STORE_REFRESHED)
                    .bind(&t.key_id)
                    .bind(&t.access)
                    .bind(&t.refresh)
                    .bind(t.access_expires_at)
                    .bind(t.issued_at)
                    .bind(portal_id)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn refresh_failed(&self, portal_id: i64, holder: &str) -> Result<(), StoreError> {
                sqlx::query(REFRESH_FAILED)
                    .bind(portal_id)
                    .bind(holder)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn mark_needs_reauth(
                &self,
                portal_id: i64,
                reason: &str,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let change = Retirement {
                    state: PortalState::NeedsReauth,
                    reason: Some(reason),
                    action: "needs_reauth",
                    actor: "spoke",
                };
                retire(&self.pool, portal_id, change, now_ms).await
            }

            async fn record_uninstall(
                &self,
                portal_id: i64,
                actor: &str,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let change = Retirement {
                    state: PortalState::Uninstalled,
                    reason: None,
                    action: "uninstalled",
                    actor,
                };
                retire(&self.pool, portal_id, change, now_ms).await
            }

            async fn erase(
                &self,
                portal_id: i64,
                actor: &str,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                let events = sqlx::query(DELETE_EVENTS)
                    .bind(portal_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query(DELETE_TOKENS)
                    .bind(portal_id)
                    .execute(&mut *tx)
                    .await?;
                let portals = sqlx::query(DELETE_PORTAL)
                    .bind(portal_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if events + portals == 0 {
                    tx.rollback().await?;
                    return Err(StoreError::NotFound);
                }
                audit(
                    &mut tx,
                    now_ms,
                    portal_id,
                    "erased",
                    actor,
                    &format!("{events} events"),
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_trail(&self, portal_id: i64) -> Result<Vec<AuditEntry>, StoreError> {
                let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(AUDIT_TRAIL)
                    .bind(portal_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(at, portal_id, action, actor, detail)| AuditEntry {
                        at,
                        portal_id,
                        action,
                        actor,
                        detail,
                    })
                    .collect())
            }

            async fn expiring_before(&self, before_ms: i64) -> Result<Vec<i64>, StoreError> {
                Ok(sqlx::query_scalar(EXPIRING)
                    .bind(before_ms)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn sealed_with_other_keys(
                &self,
                key_id: &str,
                limit: u32,
            ) -> Result<Vec<(i64, SealedTokens)>, StoreError> {
                let rows: Vec<(i64, String, Vec<u8>, Vec<u8>, i64, i64)> =
                    sqlx::query_as(OTHER_KEYS)
                        .bind(key_id)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(p, k, a, r, i, e)| (p, tokens((k, a, r, i, e))))
                    .collect())
            }

            async fn reseal(
                &self,
                portal_id: i64,
                old_key_id: &str,
                t: &SealedTokens,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(RESEAL)
                    .bind(&t.key_id)
                    .bind(&t.access)
                    .bind(&t.refresh)
                    .bind(portal_id)
                    .bind(old_key_id)
                    .bind(t.access_expires_at)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn use_install_state(
                &self,
                nonce: &str,
                expires_at_ms: i64,
                now_ms: i64,
            ) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(FORGET_STATES)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                let fresh = sqlx::query(USE_STATE)
                    .bind(nonce)
                    .bind(expires_at_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                tx.commit().await?;
                Ok(fresh)
            }
        }
    };
}

pub(crate) use impl_portals;
