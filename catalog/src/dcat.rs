//! DCAT (JSON-LD) export of the catalogue.
//!
//! Other catalogues and data portals harvest DCAT; exporting it lets the hub's catalogue be
//! federated without a bespoke format. Terms outside DCAT and Dublin Core (share type and
//! conditions, item-level share types, snapshots) live under the `tongban:` vocabulary.

use serde_json::{Value, json};

use crate::resource::ResourceDefinition;
use crate::snapshot::SnapshotSummary;

/// The JSON-LD context of the export.
pub fn context() -> Value {
    json!({
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "tongban": "urn:tongban:vocabulary#",
        "dct:issued": {"@type": "xsd:dateTime"},
        "dct:modified": {"@type": "xsd:dateTime"},
        "dcat:byteSize": {"@type": "xsd:nonNegativeInteger"}
    })
}

fn zh(text: &str) -> Value {
    json!({"@value": text, "@language": "zh"})
}

/// One `dcat:Dataset` for a resource and, when it has been published, its latest snapshot.
pub fn dataset(
    base_url: &str,
    resource: &ResourceDefinition,
    latest: Option<&SnapshotSummary>,
    first_published: Option<&str>,
) -> Value {
    let code = resource.code.to_string();
    let id = format!("{base_url}/v1/catalog/resources/{code}");
    let items: Vec<Value> = resource
        .items
        .iter()
        .map(|item| {
            json!({
                "@type": "tongban:Item",
                "dct:title": zh(&item.name),
                "tongban:column": item.column,
                "tongban:dataType": item.data_type,
                "tongban:key": item.key,
                "tongban:shareType": item.share_type.as_str(),
                "dct:conformsTo": item.standard,
            })
        })
        .collect();
    let mut dataset = json!({
        "@id": id,
        "@type": "dcat:Dataset",
        "dct:identifier": code,
        "dct:title": zh(&resource.name),
        "dct:description": zh(&resource.summary),
        "dct:publisher": {
            "@type": "foaf:Organization",
            "foaf:name": zh(&resource.provider.name),
            "dct:identifier": resource.provider.code.as_str(),
        },
        "dct:accrualPeriodicity": {"@id": resource.update_cycle.dcat_frequency()},
        "dct:accessRights": resource.share_type.label_zh(),
        "tongban:shareType": resource.share_type.as_str(),
        "tongban:shareMethod": resource.share_method,
        "tongban:openType": resource.open_type.label_zh(),
        "tongban:baseLibrary": resource.base_library.table_name(),
        "dct:relation": resource.related.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "tongban:item": items,
    });
    if let Some(conditions) = &resource.share_conditions {
        dataset["tongban:shareConditions"] = zh(conditions);
    }
    if let Some(first) = first_published {
        dataset["dct:issued"] = json!(first);
    }
    if let Some(snap) = latest {
        dataset["dct:modified"] = json!(snap.published_at);
        dataset["tongban:snapshot"] = json!(snap.version);
        dataset["dcat:distribution"] = json!([{
            "@id": format!("{id}/snapshots/{}", snap.version),
            "@type": "dcat:Distribution",
            "dct:format": resource.format,
            "dcat:mediaType": "application/vnd.apache.parquet",
            "dcat:accessURL": {"@id": format!("{base_url}/v1/query")},
            "dcat:byteSize": snap.bytes,
            "tongban:rows": snap.rows,
            "tongban:sha256": snap.sha256,
        }]);
    }
    dataset
}

/// The whole catalogue as a `dcat:Catalog`.
pub fn catalog(base_url: &str, title: &str, datasets: Vec<Value>) -> Value {
    json!({
        "@context": context(),
        "@id": format!("{base_url}/v1/catalog/dcat"),
        "@type": "dcat:Catalog",
        "dct:title": zh(title),
        "dcat:dataset": datasets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Provider, base_library_resource};
    use tongban_schemas::{BaseLibrary, Uscc};

    #[test]
    fn export_names_every_dataset_with_its_snapshot() {
        let provider = Provider {
            department: "public-security".into(),
            name: "公安局".into(),
            code: Uscc::parse("91110000600037341L").expect("valid"),
        };
        let resource = base_library_resource(BaseLibrary::Population, provider).expect("valid");
        let snap = SnapshotSummary {
            version: 3,
            rows: 10,
            bytes: 2048,
            sha256: "ab".repeat(32),
            published_at: "2026-11-01T08:00:00+08:00".into(),
        };
        let doc = catalog(
            "https://hub.example",
            "目录",
            vec![dataset(
                "https://hub.example",
                &resource,
                Some(&snap),
                Some("2026-10-01T08:00:00+08:00"),
            )],
        );
        assert_eq!(doc["@type"], "dcat:Catalog");
        let ds = &doc["dcat:dataset"][0];
        assert_eq!(ds["dct:identifier"], resource.code.to_string());
        assert_eq!(ds["tongban:snapshot"], 3);
        assert_eq!(ds["dcat:distribution"][0]["dcat:byteSize"], 2048);
        assert_eq!(
            ds["tongban:item"].as_array().map(Vec::len),
            Some(resource.items.len())
        );
    }
}
