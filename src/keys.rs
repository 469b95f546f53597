//! Project API keys: creation (Langfuse's formats and hashes), `keys list|revoke`, and the
//! headless setup that `serve` runs at start.

use spanbridge_gateway::auth::fast_hash;
use spanbridge_sink::meta::{MetaStore, NewApiKey};

/// Langfuse hashes secrets with bcrypt cost 11 for `hashed_secret_key`.
const BCRYPT_COST: u32 = 11;

/// A freshly created key pair; the secret exists only here and is shown once.
pub struct CreatedKey {
    pub project_id: String,
    pub public_key: String,
    pub secret_key: String,
}

/// Langfuse's display form: first 6 characters, "...", last 4.
fn display_secret(secret_key: &str) -> String {
    let chars: Vec<char> = secret_key.chars().collect();
    let head: String = chars.iter().take(6).collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("{head}...{tail}")
}

/// Stores a key pair for `project_id` (hashes only).
pub async fn store_key(
    meta: &dyn MetaStore,
    project_id: &str,
    public_key: &str,
    secret_key: &str,
    salt: &str,
    note: Option<String>,
) -> Result<(), String> {
    let hashed_secret_key =
        bcrypt::hash(secret_key, BCRYPT_COST).map_err(|error| format!("bcrypt failed: {error}"))?;
    let key = NewApiKey {
        public_key: public_key.to_owned(),
        hashed_secret_key,
        fast_hashed_secret_key: fast_hash(secret_key, salt),
        display_secret_key: display_secret(secret_key),
        note,
    };
    meta.insert_key(project_id, &key)
        .await
        .map_err(|error| format!("cannot store the key: {error}"))?;
    Ok(())
}

/// Creates a new `pk-lf-…` / `sk-lf-…` pair for the project called `project_name`.
pub async fn create(
    meta: &dyn MetaStore,
    project_name: &str,
    salt: &str,
    note: Option<String>,
) -> Result<CreatedKey, String> {
    let project_id = meta
        .ensure_project(project_name)
        .await
        .map_err(|error| format!("cannot create project: {error}"))?;
    let public_key = format!("pk-lf-{}", uuid::Uuid::new_v4());
    let secret_key = format!("sk-lf-{}", uuid::Uuid::new_v4());
    store_key(meta, &project_id, &public_key, &secret_key, salt, note).await?;
    Ok(CreatedKey {
        project_id,
        public_key,
        secret_key,
    })
}

/// Prints a new key pair; the only time the secret is ever shown.
pub fn print_created(project_name: &str, key: &CreatedKey) {
    println!("Project:    {project_name} ({})", key.project_id);
    println!("Public key: {}", key.public_key);
    println!("Secret key: {}", key.secret_key);
    println!("The secret key is shown only now; store it safely.");
}

/// `serve`'s start-up: with SPANBRIDGE_INIT_PUBLIC_KEY/SECRET_KEY set, make sure that project
/// and key exist; with no project at all, create one and print its key pair once.
pub async fn ensure_initial_key(meta: &dyn MetaStore, salt: &str) -> Result<(), String> {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let public_key = var("SPANBRIDGE_INIT_PUBLIC_KEY");
    let secret_key = var("SPANBRIDGE_INIT_SECRET_KEY");
    let project_name = var("SPANBRIDGE_INIT_PROJECT_NAME").unwrap_or_else(|| "default".into());
    match (public_key, secret_key) {
        (Some(public_key), Some(secret_key)) => {
            let project_id = meta
                .ensure_project(&project_name)
                .await
                .map_err(|e| format!("cannot create project: {e}"))?;
            if meta
                .public_key_exists(&public_key)
                .await
                .map_err(|e| e.to_string())?
            {
                tracing::info!(%public_key, "initial API key already present");
                return Ok(());
            }
            store_key(
                meta,
                &project_id,
                &public_key,
                &secret_key,
                salt,
                Some("SPANBRIDGE_INIT".into()),
            )
            .await?;
            tracing::info!(%public_key, project = %project_name, "created the initial API key from SPANBRIDGE_INIT_*");
            Ok(())
        }
        (None, None) => {
            if meta.project_count().await.map_err(|e| e.to_string())? > 0 {
                return Ok(());
            }
            let key = create(
                meta,
                &project_name,
                salt,
                Some("created at first start".into()),
            )
            .await?;
            println!(
                "No project existed, so Spanbridge created one. Send its keys with your spans:"
            );
            print_created(&project_name, &key);
            Ok(())
        }
        _ => Err(
            "set both SPANBRIDGE_INIT_PUBLIC_KEY and SPANBRIDGE_INIT_SECRET_KEY, or neither".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_secret_is_langfuse_shaped() {
        assert_eq!(
            super::display_secret("sk-lf-0123456789abcdef"),
            "sk-lf-...cdef"
        );
    }
}
