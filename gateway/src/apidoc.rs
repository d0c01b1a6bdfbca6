//! The OpenAPI 3.1 description of the `/v1` API, served at `/v1/openapi.json`.
//!
//! Written by hand from the route table and the handlers' request types; the end-to-end
//! tests compare its operations with the routes `routes::router` declares, in both
//! directions, and validate it with an independent OpenAPI validator, so a route added
//! without its description (or a description of a route that is gone) fails the build.

use axum::Json;
use serde_json::{Value, json};

use crate::auth::Principal;

/// `GET /v1/openapi.json`.
pub async fn document(_principal: Principal) -> Json<Value> {
    Json(openapi())
}

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_body(schema_value: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema_value}}})
}

fn answer(description: &str, schema_value: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_value}}})
}

fn path_param(name: &str, description: &str, kind: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": kind}})
}

fn query_param(name: &str, description: &str, kind: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": kind}})
}

/// One operation.
struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    parameters: Vec<Value>,
    body: Option<Value>,
    status: &'static str,
    ok: Value,
    anonymous: bool,
}

impl Op {
    fn new(method: &'static str, path: &'static str, id: &'static str, tag: &'static str) -> Op {
        Op {
            method,
            path,
            id,
            tag,
            summary: "",
            parameters: Vec::new(),
            body: None,
            status: "200",
            ok: json!({"description": "OK"}),
            anonymous: false,
        }
    }
    fn summary(mut self, s: &'static str) -> Op {
        self.summary = s;
        self
    }
    fn param(mut self, p: Value) -> Op {
        self.parameters.push(p);
        self
    }
    fn body(mut self, b: Value) -> Op {
        self.body = Some(b);
        self
    }
    fn ok(mut self, status: &'static str, v: Value) -> Op {
        self.status = status;
        self.ok = v;
        self
    }
    fn anonymous(mut self) -> Op {
        self.anonymous = true;
        self
    }
}

fn operations() -> Vec<Op> {
    let code = || {
        path_param(
            "code",
            "Resource code; its `/` may be written `-`",
            "string",
        )
    };
    let id_int = || path_param("id", "Row id", "integer");
    let licence_id = || path_param("id", "GB/T 36904 licence identifier", "string");
    let page = |p: Op| {
        p.param(query_param(
            "from_index",
            "First leaf index of the page",
            "integer",
        ))
        .param(query_param(
            "limit",
            "Entries per page (at most 1000)",
            "integer",
        ))
    };
    vec![
        Op::new("post", "/v1/auth/login", "login", "auth")
            .summary("Sign in with a username and password; answers a bearer token")
            .body(json_body(schema("Login")))
            .ok("200", answer("A bearer token", schema("LoginAnswer")))
            .anonymous(),
        Op::new("post", "/v1/auth/logout", "logout", "auth")
            .summary("End the caller's session (a signed-in person)")
            .ok("204", json!({"description": "Signed out"})),
        Op::new("get", "/v1/me", "me", "auth")
            .summary("The caller as the hub sees them")
            .ok("200", answer("The principal", schema("Principal"))),
        Op::new("get", "/v1/openapi.json", "openapi", "meta")
            .summary("This document")
            .ok("200", answer("OpenAPI 3.1", json!({"type": "object"}))),
        Op::new("get", "/v1/departments", "listDepartments", "admin")
            .summary("Every department and its roles")
            .ok("200", answer("Departments", json!({"type": "array", "items": schema("Department")}))),
        Op::new("get", "/v1/users", "listUsers", "admin")
            .summary("Accounts (administrators)")
            .ok("200", answer("Accounts", json!({"type": "array", "items": schema("User")}))),
        Op::new("post", "/v1/users", "createUser", "admin")
            .summary("Create a person's account (administrators); a citizen's is bound to their ID")
            .body(json_body(schema("CreateUser")))
            .ok("201", answer("Created", json!({"type": "object", "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}}}))),
        Op::new("get", "/v1/catalog/resources", "listResources", "catalog")
            .summary("The shared data catalogue")
            .ok("200", answer("Resources", json!({"type": "array", "items": schema("Resource")}))),
        Op::new("get", "/v1/catalog/resources/{code}", "getResource", "catalog")
            .summary("One resource: metadata, items, current snapshot")
            .param(code())
            .ok("200", answer("The resource", schema("Resource"))),
        Op::new("get", "/v1/catalog/resources/{code}/snapshots", "listSnapshots", "catalog")
            .summary("Snapshot history, newest first")
            .param(code())
            .ok("200", answer("Snapshots", json!({"type": "array", "items": schema("Snapshot")}))),
        Op::new("post", "/v1/catalog/resources/{code}/snapshots", "publishSnapshot", "catalog")
            .summary("Publish the next snapshot from CSV or Parquet (the provider)")
            .param(code())
            .body(json!({"required": true, "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "contentMediaType": "application/vnd.apache.parquet"}}
            }}))
            .ok("201", answer("The new snapshot", schema("Snapshot"))),
        Op::new("get", "/v1/catalog/dcat", "dcat", "catalog")
            .summary("The catalogue as DCAT JSON-LD")
            .ok("200", json!({"description": "DCAT", "content": {"application/ld+json": {"schema": {"type": "object"}}}})),
        Op::new("post", "/v1/query", "query", "query")
            .summary("Governed SQL with a purpose; JSON, CSV or Arrow IPC by Accept")
            .param(json!({"name": "Accept", "in": "header", "required": false, "schema": {"type": "string", "enum": ["application/json", "text/csv", "application/vnd.apache.arrow.stream"]}}))
            .body(json_body(schema("QueryRequest")))
            .ok("200", json!({"description": "The result; headers tongban-audit-id, tongban-row-count, tongban-truncated", "content": {
                "application/json": {"schema": schema("QueryResult")},
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "contentMediaType": "application/vnd.apache.arrow.stream"}}
            }})),
        Op::new("get", "/v1/grants", "listGrants", "grants")
            .summary("Explicit grants the caller may see, and (for consumers) the implied unconditional ones")
            .ok("200", answer("Grants", json!({"type": "object", "properties": {"grants": {"type": "array", "items": {"type": "object"}}, "implied": {"type": "array", "items": schema("Grant")}}}))),
        Op::new("post", "/v1/grants", "createGrant", "grants")
            .summary("An administrative grant (administrators)")
            .body(json_body(schema("NewGrant")))
            .ok("201", answer("Created", json!({"type": "object", "properties": {"id": {"type": "integer"}}}))),
        Op::new("delete", "/v1/grants/{id}", "revokeGrant", "grants")
            .summary("Revoke a grant (the provider or an administrator)")
            .param(id_int())
            .ok("204", json!({"description": "Revoked"})),
        Op::new("get", "/v1/grant-requests", "listGrantRequests", "grants")
            .summary("Applications the caller may see")
            .ok("200", answer("Applications", json!({"type": "array", "items": schema("GrantRequestRecord")}))),
        Op::new("post", "/v1/grant-requests", "applyForGrant", "grants")
            .summary("Apply for a conditional grant (consumers)")
            .body(json_body(schema("GrantApplication")))
            .ok("201", answer("Filed", json!({"type": "object", "properties": {"id": {"type": "integer"}, "status": {"const": "pending"}}}))),
        Op::new("post", "/v1/grant-requests/{id}/approve", "approveGrantRequest", "grants")
            .summary("Approve an application, possibly narrowed (the resource's provider)")
            .param(id_int())
            .body(json_body(schema("Approval")))
            .ok("201", answer("Approved", json!({"type": "object", "properties": {"request": {"type": "integer"}, "status": {"const": "approved"}, "grant": {"type": "integer"}}}))),
        Op::new("post", "/v1/grant-requests/{id}/reject", "rejectGrantRequest", "grants")
            .summary("Reject an application with a note (the resource's provider)")
            .param(id_int())
            .body(json_body(json!({"type": "object", "required": ["note"], "additionalProperties": false, "properties": {"note": {"type": "string"}}})))
            .ok("200", answer("Rejected", json!({"type": "object", "properties": {"request": {"type": "integer"}, "status": {"const": "rejected"}}}))),
        Op::new("get", "/v1/audit/tree-head", "treeHead", "audit")
            .summary("The latest signed tree head and the log's size")
            .ok("200", answer("The head", json!({"type": "object", "properties": {"tree_head": {"oneOf": [schema("TreeHead"), {"type": "null"}]}, "log_size": {"type": "integer"}}}))),
        Op::new("post", "/v1/audit/tree-head", "signTreeHead", "audit")
            .summary("Sign a head for the log as it stands (auditors, administrators)")
            .ok("200", answer("The head", json!({"type": "object", "properties": {"tree_head": schema("TreeHead")}}))),
        Op::new("get", "/v1/audit/tree-heads", "treeHeads", "audit")
            .summary("Signed heads in order of size")
            .param(query_param("from", "Smallest tree size", "integer"))
            .param(query_param("limit", "Heads per page (at most 1000)", "integer"))
            .ok("200", answer("Heads", json!({"type": "object", "properties": {"tree_heads": {"type": "array", "items": schema("TreeHead")}}}))),
        Op::new("get", "/v1/audit/public-key", "auditPublicKey", "audit")
            .summary("The Ed25519 key tree heads are signed with")
            .ok("200", answer("The key", json!({"type": "object", "properties": {"algorithm": {"const": "Ed25519"}, "key_id": {"type": "string"}, "public_key": {"type": "string", "contentEncoding": "base64"}}}))),
        Op::new("get", "/v1/audit/proofs/inclusion", "inclusionProof", "audit")
            .summary("RFC 6962 audit path of a leaf")
            .param(json!({"name": "index", "in": "query", "required": true, "schema": {"type": "integer"}}))
            .param(json!({"name": "size", "in": "query", "required": true, "schema": {"type": "integer"}}))
            .ok("200", answer("The proof", json!({"type": "object", "properties": {"index": {"type": "integer"}, "tree_size": {"type": "integer"}, "leaf_hash": {"type": "string"}, "root_hash": {"type": "string"}, "proof": {"type": "array", "items": {"type": "string"}}}}))),
        Op::new("get", "/v1/audit/proofs/consistency", "consistencyProof", "audit")
            .summary("RFC 6962 consistency proof between two tree sizes")
            .param(json!({"name": "from", "in": "query", "required": true, "schema": {"type": "integer"}}))
            .param(json!({"name": "to", "in": "query", "required": true, "schema": {"type": "integer"}}))
            .ok("200", answer("The proof", json!({"type": "object", "properties": {"first": {"type": "integer"}, "second": {"type": "integer"}, "proof": {"type": "array", "items": {"type": "string"}}}}))),
        page(Op::new("get", "/v1/audit/entries", "auditEntries", "audit")
            .summary("Entries by department, action, matter, subject and time (auditors)")
            .param(query_param("department", "Department code", "string"))
            .param(query_param("action", "Event name, e.g. query_refused", "string"))
            .param(query_param("matter", "Matter code", "string"))
            .param(query_param("subject", "Citizen ID or USCC, matched through its keyed hash", "string"))
            .param(query_param("from", "RFC 3339 time or YYYY-MM-DD (Beijing), inclusive", "string"))
            .param(query_param("to", "RFC 3339 time or YYYY-MM-DD (Beijing), exclusive", "string")))
            .ok("200", answer("A page of entries", schema("EntryPage"))),
        page(Op::new("get", "/v1/audit/alerts", "auditAlerts", "audit")
            .summary("Entries with anomaly flags (auditors)"))
            .ok("200", answer("A page of entries", schema("EntryPage"))),
        page(Op::new("get", "/v1/subjects/{id}/accesses", "subjectAccesses", "audit")
            .summary("Who accessed a citizen's or entity's records (the citizen themself, auditors)")
            .param(path_param("id", "Citizen ID or USCC", "string")))
            .ok("200", answer("Accesses", json!({"type": "object", "properties": {"accesses": {"type": "array", "items": schema("Access")}, "next_index": {"type": ["integer", "null"]}}}))),
        Op::new("post", "/v1/licences", "issueLicence", "licences")
            .summary("Issue an e-licence (the type's issuing department)")
            .body(json_body(schema("IssueLicence")))
            .ok("201", answer("The licence", schema("IssuedLicence"))),
        Op::new("post", "/v1/licences/verify", "verifyLicence", "licences")
            .summary("Verify a presented licence: a token with a purpose, or a PNG/JPEG photo of its QR code with the purpose in the query")
            .param(query_param("matter", "Matter code (image uploads)", "string"))
            .param(query_param("case_id", "Case ID (image uploads)", "string"))
            .param(query_param("legal_basis", "Legal basis (image uploads)", "string"))
            .body(json!({"required": true, "content": {
                "application/json": {"schema": schema("VerifyRequest")},
                "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
                "image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}
            }}))
            .ok("200", answer("Valid with the disclosed fields, or the refusal's code and reason", schema("VerifyAnswer"))),
        Op::new("get", "/v1/matters", "listMatters", "matters")
            .summary("Matters (事项), their parties and required materials")
            .ok("200", answer("The matters", json!({"type": "array", "items": {"type": "object"}}))),
        Op::new("get", "/v1/matters/evidence-key", "evidenceKey", "matters")
            .summary("The public JWK that signs resolution evidence (pin it)")
            .ok("200", answer("A JWK", json!({"type": "object"}))),
        Op::new("get", "/v1/matters/{code}", "getMatter", "matters")
            .summary("One matter and its required materials")
            .param(path_param("code", "Matter code", "string"))
            .ok("200", answer("The matter", json!({"type": "object"}))),
        Op::new("post", "/v1/matters/{code}/resolve", "resolveMatter", "matters")
            .summary("Which required materials the hub supplies for an applicant, with signed evidence")
            .param(path_param("code", "Matter code", "string"))
            .body(json_body(json!({"type": "object", "required": ["applicant", "case_id"], "properties": {
                "applicant": {"type": "object", "properties": {"type": {"type": "string", "enum": ["111", "001"]}, "id": {"type": "string"}}},
                "parties": {"type": "array", "items": {"type": "object", "properties": {"role": {"type": "string"}, "type": {"type": "string"}, "id": {"type": "string"}}}},
                "case_id": {"type": "string"},
                "licences": {"type": "array", "items": {"type": "string"}}
            }})))
            .ok("200", answer("Per material supplied or must_submit, and the signed evidence", json!({"type": "object", "properties": {
                "resolution_id": {"type": "string"}, "materials": {"type": "array", "items": {"type": "object"}},
                "supplied": {"type": "integer"}, "must_submit": {"type": "integer"}, "evidence_jws": {"type": "string"}, "audit_id": {"type": "string"}
            }}))),
        Op::new("get", "/v1/matters/{code}/stats", "matterStats", "matters")
            .summary("Materials supplied by the hub versus requested from applicants")
            .param(path_param("code", "Matter code", "string"))
            .param(query_param("from", "Start (RFC 3339 or a date)", "string"))
            .param(query_param("to", "End, exclusive", "string"))
            .ok("200", answer("The counts", json!({"type": "object"}))),
        Op::new("get", "/v1/resolutions/{id}", "getResolution", "matters")
            .summary("A stored resolution and its signed evidence")
            .param(path_param("id", "Resolution id", "string"))
            .ok("200", answer("The resolution", json!({"type": "object"}))),
        Op::new("get", "/v1/licences/trust-list", "trustList", "licences")
            .summary("The signed trust list and its anchor key, for offline verifiers")
            .ok("200", answer("The list", json!({"type": "object", "properties": {"trust_list": {"type": "string"}, "anchor": {"type": "object"}}}))),
        Op::new("get", "/v1/licences/status-lists/{department}/{list}", "statusList", "licences")
            .summary("A signed IETF Token Status List")
            .param(path_param("department", "Issuing department code", "string"))
            .param(path_param("list", "List number", "integer"))
            .ok("200", answer("The list", json!({"type": "object", "properties": {"status_list": {"type": "string"}}}))),
        Op::new("get", "/v1/licences/{id}", "getLicence", "licences")
            .summary("A registry entry (the issuer; auditors read)")
            .param(licence_id())
            .ok("200", answer("The entry", schema("LicenceRecord"))),
        Op::new("post", "/v1/licences/{id}/suspend", "suspendLicence", "licences")
            .summary("Suspend a licence with a reason (the issuer)")
            .param(licence_id())
            .body(json_body(schema("StatusChange")))
            .ok("200", answer("The new status", schema("StatusAnswer"))),
        Op::new("post", "/v1/licences/{id}/reinstate", "reinstateLicence", "licences")
            .summary("Reinstate a suspended licence (the issuer)")
            .param(licence_id())
            .body(json_body(schema("StatusChange")))
            .ok("200", answer("The new status", schema("StatusAnswer"))),
        Op::new("post", "/v1/licences/{id}/revoke", "revokeLicence", "licences")
            .summary("Revoke a licence for good (the issuer)")
            .param(licence_id())
            .body(json_body(schema("StatusChange")))
            .ok("200", answer("The new status", schema("StatusAnswer"))),
    ]
}

fn components() -> Value {
    json!({
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A token from POST /v1/auth/login"},
            "clientCertificate": {"type": "mutualTLS", "description": "A department certificate issued by the hub's CA and registered with the hub"}
        },
        "responses": {
            "Error": {"description": "A refusal or failure", "content": {"application/json": {"schema": schema("Error")}}}
        },
        "schemas": schemas(),
    })
}

fn schemas() -> Value {
    let s = |t: &str| json!({"type": t});
    let strings = || json!({"type": "array", "items": {"type": "string"}});
    let defs: Vec<(&str, Value)> = vec![
        (
            "Error",
            json!({"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable code, e.g. query.not_granted", "examples": ["auth.required"]},
                "message": s("string"),
                "audit_id": {"type": "string", "description": "The access record of a refused query"},
                "details": {"description": "A list the caller needs, e.g. rejected rows"}
            }}}}),
        ),
        (
            "Purpose",
            json!({"type": "object", "required": ["matter", "case_id", "legal_basis"], "additionalProperties": false, "properties": {
                "matter": {"type": "string", "description": "A matter code (GET /v1/matters)"},
                "case_id": {"type": "string", "pattern": "^[A-Za-z0-9_./-]{1,64}$"},
                "legal_basis": {"type": "string", "minLength": 1, "maxLength": 256},
                "confidential_until": {"type": "string", "format": "date", "description": "Until when the data subject does not see the access (a legal exemption)"}
            }}),
        ),
        (
            "Login",
            json!({"type": "object", "required": ["username", "password"], "additionalProperties": false, "properties": {"username": s("string"), "password": s("string")}}),
        ),
        (
            "LoginAnswer",
            json!({"type": "object", "properties": {"token": s("string"), "token_type": {"const": "Bearer"}, "expires_at": {"type": "string", "format": "date-time"}, "user": {"type": "object"}}}),
        ),
        (
            "Principal",
            json!({"type": "object", "properties": {"department": s("string"), "department_name": s("string"), "roles": strings(), "credential": {"type": "object"}, "subject": s("string")}}),
        ),
        (
            "Department",
            json!({"type": "object", "properties": {"code": s("string"), "name": s("string"), "uscc": s("string"), "roles": strings()}}),
        ),
        (
            "User",
            json!({"type": "object", "properties": {"username": s("string"), "display_name": s("string"), "department": s("string"), "roles": strings(), "disabled": s("boolean")}}),
        ),
        (
            "CreateUser",
            json!({"type": "object", "required": ["username", "display_name", "department", "roles", "password"], "additionalProperties": false, "properties": {
                "username": s("string"), "display_name": s("string"), "department": s("string"),
                "roles": {"type": "array", "items": {"type": "string", "enum": ["admin", "provider", "consumer", "issuer", "clerk", "auditor", "citizen"]}},
                "password": s("string"), "subject_id": {"type": "string", "description": "A citizen's own ID, for a citizen account"}
            }}),
        ),
        (
            "Resource",
            json!({"type": "object", "properties": {
                "code": s("string"), "name": s("string"), "provider": s("string"), "provider_name": s("string"), "provider_code": s("string"),
                "base_library": s("string"), "summary": s("string"), "format": s("string"),
                "share_type": {"type": "string", "enum": ["unconditional", "conditional", "not_shared"]}, "share_type_label": s("string"),
                "share_conditions": {"type": ["string", "null"]}, "share_method": s("string"), "open_type": s("string"), "update_cycle": s("string"),
                "snapshot": {"type": ["integer", "null"]}, "snapshot_info": {"oneOf": [schema("Snapshot"), {"type": "null"}]},
                "items": {"type": "array", "items": {"type": "object", "properties": {"name": s("string"), "column": s("string"), "data_type": s("string"), "length": {"type": ["integer", "null"]}, "key": s("boolean"), "share_type": s("string"), "standard": {"type": ["string", "null"]}}}}
            }}),
        ),
        (
            "Snapshot",
            json!({"type": "object", "properties": {"version": s("integer"), "rows": s("integer"), "bytes": s("integer"), "files": s("integer"), "sha256": s("string"), "published_at": s("string"), "published_by": s("string")}}),
        ),
        (
            "QueryRequest",
            json!({"type": "object", "required": ["sql"], "additionalProperties": false, "properties": {"sql": s("string"), "purpose": schema("Purpose"), "max_rows": {"type": "integer", "minimum": 0}}}),
        ),
        (
            "QueryResult",
            json!({"type": "object", "properties": {"columns": strings(), "types": strings(), "row_count": s("integer"), "rows": {"type": "array", "items": {"type": "array"}}, "truncated": s("boolean"), "audit_id": s("string")}}),
        ),
        (
            "Grant",
            json!({"type": "object", "properties": {"id": s("integer"), "consumer": s("string"), "resource": s("string"), "columns": strings(), "row_filter": s("string"), "masks": {"type": "object"}, "matters": strings(), "legal_basis": s("string"), "valid_from": s("integer"), "valid_to": s("integer"), "row_cap": s("integer")}}),
        ),
        (
            "NewGrant",
            json!({"type": "object", "required": ["consumer", "resource", "columns", "matters", "legal_basis"], "additionalProperties": false, "properties": {
                "consumer": s("string"), "resource": s("string"), "columns": strings(), "row_filter": s("string"), "masks": {"type": "object"},
                "matters": strings(), "legal_basis": s("string"), "valid_from": {"type": "string", "format": "date-time"}, "valid_to": {"type": "string", "format": "date-time"}, "row_cap": s("integer")
            }}),
        ),
        (
            "GrantApplication",
            json!({"type": "object", "required": ["resource", "columns", "matters", "reason", "legal_basis"], "additionalProperties": false, "properties": {
                "resource": s("string"), "columns": strings(), "matters": strings(), "reason": s("string"), "legal_basis": s("string"), "valid_to": {"type": "string", "format": "date-time"}
            }}),
        ),
        (
            "GrantRequestRecord",
            json!({"type": "object", "properties": {"id": s("integer"), "consumer": s("string"), "resource": s("string"), "body": schema("GrantApplication"), "status": {"type": "string", "enum": ["pending", "approved", "rejected"]}, "created_at": s("integer"), "created_by": s("string"), "decided_at": {"type": ["integer", "null"]}, "decided_by": {"type": ["string", "null"]}, "decision_note": {"type": ["string", "null"]}}}),
        ),
        (
            "Approval",
            json!({"type": "object", "additionalProperties": false, "properties": {"note": s("string"), "columns": strings(), "row_filter": s("string"), "masks": {"type": "object"}, "row_cap": s("integer"), "valid_to": {"type": "string", "format": "date-time"}}}),
        ),
        (
            "TreeHead",
            json!({"type": "object", "properties": {"tree_size": s("integer"), "root_hash": s("string"), "timestamp": s("integer"), "key_id": s("string"), "signature": s("string")}}),
        ),
        (
            "EntryPage",
            json!({"type": "object", "properties": {"entries": {"type": "array", "items": {"type": "object", "properties": {
                "index": s("integer"), "leaf_hash": s("string"), "request_id": s("string"), "at": s("integer"), "department": s("string"), "actor": s("string"),
                "action": s("string"), "outcome": s("string"), "matter": {"type": ["string", "null"]}, "flags": strings(), "purged": s("boolean"), "entry": {"type": ["object", "null"]}, "canonical": {"type": ["string", "null"]}
            }}}, "next_index": {"type": ["integer", "null"]}}}),
        ),
        (
            "Access",
            json!({"type": "object", "properties": {"index": s("integer"), "time": s("string"), "at": s("integer"), "department": s("string"), "action": s("string"), "outcome": s("string"), "matter": {"type": ["string", "null"]}, "case_id": {"type": ["string", "null"]}, "legal_basis": {"type": ["string", "null"]}}}),
        ),
        (
            "IssueLicence",
            json!({"type": "object", "required": ["type", "holder", "face"], "additionalProperties": false, "properties": {
                "type": {"type": "string", "examples": ["business-licence"]},
                "holder": {"type": "object", "required": ["type", "id"], "additionalProperties": false, "properties": {"type": {"type": "string", "enum": ["111", "001"]}, "id": s("string")}},
                "face": {"type": "object", "additionalProperties": {"type": "string"}},
                "qr": {"type": "string", "enum": ["compressed", "compact"]}
            }}),
        ),
        (
            "IssuedLicence",
            json!({"type": "object", "properties": {"id": s("string"), "type": s("string"), "token": s("string"), "not_before": s("integer"), "expires_at": {"type": ["integer", "null"]}, "status": {"type": "object"}, "qr": {"type": "object", "properties": {"text": s("string"), "svg": s("string"), "png_base64": s("string")}}, "audit_id": s("string")}}),
        ),
        (
            "VerifyRequest",
            json!({"type": "object", "required": ["token", "purpose"], "additionalProperties": false, "properties": {"token": {"type": "string", "description": "The SD-JWT presentation or the text of its QR code"}, "purpose": schema("Purpose")}}),
        ),
        (
            "VerifyAnswer",
            json!({"type": "object", "required": ["valid"], "properties": {"valid": s("boolean"), "code": {"type": "string", "description": "When not valid: e.g. licence.revoked"}, "reason": s("string"), "licence": {"type": "object", "properties": {"id": s("string"), "type": s("string"), "type_name": s("string"), "issuer": s("string"), "holder": {"type": "object"}, "status": s("string"), "disclosed": {"type": "object", "additionalProperties": {"type": "string"}}}}, "audit_id": s("string")}}),
        ),
        (
            "LicenceRecord",
            json!({"type": "object", "properties": {"id": s("string"), "type": s("string"), "issuer": s("string"), "holder": {"type": "object"}, "status": {"type": "string", "enum": ["valid", "suspended", "revoked"]}, "status_reason": {"type": ["string", "null"]}, "issued_at": s("integer"), "expires_at": {"type": ["integer", "null"]}, "kid": s("string")}}),
        ),
        (
            "StatusChange",
            json!({"type": "object", "required": ["reason"], "additionalProperties": false, "properties": {"reason": s("string")}}),
        ),
        (
            "StatusAnswer",
            json!({"type": "object", "properties": {"id": s("string"), "status": s("string"), "audit_id": s("string")}}),
        ),
    ];
    Value::Object(
        defs.into_iter()
            .map(|(name, v)| (name.to_owned(), v))
            .collect(),
    )
}

/// The document.
pub fn openapi() -> Value {
    let mut paths = serde_json::Map::new();
    for op in operations() {
        let mut operation = json!({
            "operationId": op.id,
            "tags": [op.tag],
            "summary": op.summary,
            "responses": {
                op.status: op.ok,
                "default": {"$ref": "#/components/responses/Error"}
            }
        });
        if !op.parameters.is_empty() {
            operation["parameters"] = Value::Array(op.parameters);
        }
        if let Some(body) = op.body {
            operation["requestBody"] = body;
        }
        if op.anonymous {
            operation["security"] = json!([]);
        }
        let item = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        item[op.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tongban (通办) exchange and e-licence hub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Governed data sharing between departments, the shared catalogue, e-licences (SD-JWT) and the tamper-evident audit log. Every route needs a registered client certificate or a bearer token, except sign-in. Errors are {\"error\":{\"code\",\"message\"}} with a stable code.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"clientCertificate": []}],
        "tags": [
            {"name": "auth", "description": "Sign-in and identity"},
            {"name": "meta", "description": "This description"},
            {"name": "admin", "description": "Departments and accounts"},
            {"name": "catalog", "description": "The shared data catalogue (政务信息资源目录)"},
            {"name": "query", "description": "Governed SQL"},
            {"name": "grants", "description": "Grants and applications"},
            {"name": "audit", "description": "The audit log, tree heads and proofs"},
            {"name": "licences", "description": "E-licences (电子证照)"},
            {"name": "matters", "description": "Matters (事项) and once-only materials resolution"}
        ],
        "paths": paths,
        "components": components(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_parameter_is_declared_and_operation_ids_are_unique() {
        let doc = openapi();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let declared: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for (method, op) in item.as_object().expect("item") {
                assert!(ids.insert(op["operationId"].as_str().expect("id").to_owned()));
                let params: Vec<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                assert_eq!(params, declared, "{method} {path}");
            }
        }
    }
}
