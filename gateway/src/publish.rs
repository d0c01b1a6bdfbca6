//! Publishing a base library: validation in `catalog`, placement and records here.
//!
//! The catalogue writes a validated snapshot into a staging directory beside its final place;
//! the store then assigns the next version and, inside the same transaction, the staging
//! directory is renamed to `snapshots/<library>/v<version>`. A failure anywhere leaves the
//! previous snapshot current and removes the staging files: nothing is half published.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use tongban_catalog::publish::{self, PreparedSnapshot};
use tongban_schemas::BaseLibrary;

use crate::error::ApiError;
use crate::store::{SnapshotRecord, Store};

/// Where snapshots of a library live, relative to the data directory.
pub fn library_dir(library: BaseLibrary) -> PathBuf {
    Path::new("snapshots").join(library.table_name())
}

/// Validates `inputs` and publishes them as the next snapshot of `library`.
pub async fn publish_files(
    store: &Store,
    data_dir: &Path,
    library: BaseLibrary,
    inputs: Vec<PathBuf>,
    published_by: &str,
    today: NaiveDate,
) -> Result<SnapshotRecord, ApiError> {
    let resource = store
        .resource_for_library(library)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ApiError::NotFound("resource for this library"),
            other => other.into(),
        })?;
    let parent = data_dir.join(library_dir(library));
    std::fs::create_dir_all(&parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&parent)?;
    let staging_path = staging.path().to_path_buf();
    let prepared: PreparedSnapshot = tokio::task::spawn_blocking(move || {
        publish::prepare(library, &inputs, today, &staging_path)
    })
    .await
    .map_err(|_| ApiError::Internal("publication task failed".into()))??;
    sync_dir(staging.path())?;

    let record = SnapshotRecord {
        resource_code: resource.definition.code.to_string(),
        version: 0,
        path: String::new(),
        files: prepared.files.clone(),
        rows: prepared.rows as i64,
        bytes: prepared.bytes as i64,
        sha256: prepared.sha256.clone(),
        published_at: chrono::Utc::now().timestamp_millis(),
        published_by: published_by.to_owned(),
    };
    let staging_path = staging.path().to_path_buf();
    let placed = std::sync::Mutex::new(None::<PathBuf>);
    let result = store
        .publish_snapshot(record, |version| {
            let relative = library_dir(library).join(format!("v{version:06}"));
            let target = data_dir.join(&relative);
            if target.exists() {
                // Left by a crash between rename and commit: never recorded, so never read.
                std::fs::remove_dir_all(&target).map_err(|e| e.to_string())?;
            }
            std::fs::rename(&staging_path, &target).map_err(|e| e.to_string())?;
            sync_dir(&parent).map_err(|e| e.to_string())?;
            *placed.lock().map_err(|_| "lock poisoned".to_owned())? = Some(target);
            Ok(relative.to_string_lossy().into_owned())
        })
        .await;
    match result {
        Ok(record) => {
            // The staging directory was renamed; nothing is left to clean up.
            let _ = staging.keep();
            tracing::info!(library = %library, version = record.version, rows = record.rows, "snapshot published");
            Ok(record)
        }
        Err(e) => {
            if let Some(target) = placed.lock().ok().and_then(|mut p| p.take()) {
                let _ = std::fs::remove_dir_all(target);
            }
            Err(e.into())
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
