//! The one-shot commands: `keys`, `prices import` and `migrate`. Each opens what it needs,
//! does one thing and prints what it did.

use std::path::Path;

use serde_json::json;

use crate::config::Settings;
use crate::{KeysCommand, keys, wiring};

/// `spanbridge keys create|list|revoke`.
pub(crate) async fn manage_keys(settings: &Settings, command: KeysCommand) -> Result<(), String> {
    let meta = wiring::meta::open_meta(settings).await?;
    match command {
        KeysCommand::Create {
            project,
            note,
            json,
        } => {
            let key =
                keys::create(meta.as_ref(), &project, settings.auth.salt.expose(), note).await?;
            if json {
                let out = json!({"project": project, "projectId": key.project_id, "publicKey": key.public_key, "secretKey": key.secret_key});
                println!("{out}");
            } else {
                keys::print_created(&project, &key);
            }
        }
        KeysCommand::List { json } => {
            let list = meta.list_keys().await.map_err(|error| error.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                println!(
                    "{:<44} {:<16} {:<24} {:<27} created",
                    "public key", "secret", "project", "project id"
                );
                for key in list {
                    println!(
                        "{:<44} {:<16} {:<24} {:<27} {}",
                        key.public_key,
                        key.display_secret_key,
                        key.project_name,
                        key.project_id,
                        key.created_at
                    );
                }
            }
        }
        KeysCommand::Revoke { public_key } => {
            if !meta
                .revoke(&public_key)
                .await
                .map_err(|error| error.to_string())?
            {
                return Err(format!("no key with public key {public_key}"));
            }
            println!(
                "Revoked {public_key}. Running servers stop accepting it within auth.cache_ttl_secs ({} s).",
                settings.auth.cache_ttl_secs
            );
        }
    }
    Ok(())
}

/// `spanbridge prices import FILE`.
pub(crate) async fn import_prices(settings: &Settings, file: &Path) -> Result<(), String> {
    let meta = wiring::meta::open_meta(settings).await?;
    let text = std::fs::read_to_string(file)
        .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
    let models = spanbridge_sink::prices::parse_price_file(&text)
        .map_err(|error| format!("{}: {error}", file.display()))?;
    let written = meta
        .upsert_models(&models, false)
        .await
        .map_err(|error| error.to_string())?;
    println!(
        "Imported {written} models from {} into {}. Running servers use them within meta.model_cache_ttl_secs ({} s).",
        file.display(),
        meta.describe(),
        settings.meta.model_cache_ttl_secs
    );
    Ok(())
}

/// `spanbridge migrate`: metadata tables and prices, Kafka topics, ClickHouse tables — each
/// only when configured and absent.
pub(crate) async fn migrate(settings: &Settings) -> Result<(), String> {
    for line in wiring::meta::migrate_meta(settings).await? {
        println!("{line}");
    }
    for line in wiring::kafka::migrate(settings).await? {
        println!("{line}");
    }
    Ok(())
}
