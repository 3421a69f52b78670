//! Tests of `manifest.rs`: what a manifest may say, and how each fault is reported (its
//! section or component named).

use super::*;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, PathBuf::from("/app"))
}

const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
"#;

#[test]
fn parses_a_minimal_manifest() {
    let manifest = parse(MINIMAL).expect("valid manifest");
    assert_eq!(manifest.application.name, "demo");
    assert_eq!(
        manifest.http_triggers[0].route,
        HttpRoute::Public("/...".into())
    );
    assert_eq!(
        manifest.source_path(&manifest.components["web"]),
        Some(PathBuf::from("/app/web.wasm"))
    );
}

#[test]
fn unknown_component_field_names_field_and_component() {
    let text = MINIMAL.replace("source = \"web.wasm\"", "source = \"web.wasm\"\nsorce = 1");
    let err = parse(&text).expect_err("unknown field").to_string();
    assert!(err.contains("`web`"), "{err}");
    assert!(err.contains("sorce"), "{err}");
}

#[test]
fn wrong_type_is_reported_with_component() {
    let text = MINIMAL.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nkey_value_stores = \"default\"",
    );
    let err = parse(&text).expect_err("wrong type").to_string();
    assert!(err.contains("`web`"), "{err}");
    assert!(err.contains("sequence"), "{err}");
}

#[test]
fn rejects_version_one_and_garbage() {
    assert!(parse("spin_manifest_version = 1\n[application]\nname='x'").is_err());
    let err = parse("this is = not toml [")
        .expect_err("syntax")
        .to_string();
    assert!(err.starts_with("invalid manifest"), "{err}");
}

#[test]
fn private_routes_and_redis_triggers() {
    let text = r#"
spin_manifest_version = 2
[application]
name = "demo"
[application.trigger.redis]
address = "redis://127.0.0.1:6379"
[[trigger.http]]
route = { private = true }
component = "svc"
[[trigger.redis]]
channel = "events"
component = "svc"
[component.svc]
source = "svc.wasm"
"#;
    let manifest = parse(text).expect("valid");
    assert_eq!(manifest.http_triggers[0].route, HttpRoute::Private);
    let trigger = &manifest.redis_triggers[0];
    assert_eq!(
        manifest.redis_address_for(trigger),
        Some("redis://127.0.0.1:6379")
    );
}

#[test]
fn redis_trigger_without_any_address_is_an_error() {
    let text = MINIMAL.to_owned() + "[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"web\"\n";
    let err = parse(&text).expect_err("no address").to_string();
    assert!(err.contains("no address"), "{err}");
}

#[test]
fn trigger_must_name_a_defined_component() {
    let text = MINIMAL.replace("component = \"web\"", "component = \"nope\"");
    assert!(
        parse(&text)
            .expect_err("undefined")
            .to_string()
            .contains("nope")
    );
}

#[test]
fn component_variables_must_refer_to_app_variables() {
    let text = MINIMAL.to_owned() + "[component.web.variables]\nkey = \"{{ missing }}\"\n";
    let err = parse(&text).expect_err("undeclared").to_string();
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn invalid_routes_and_ids_are_rejected() {
    for route in ["no-slash", "/a/.../b", "/a/b...", "/:"] {
        let text = MINIMAL.replace("\"/...\"", &format!("\"{route}\""));
        assert!(parse(&text).is_err(), "{route} accepted");
    }
    let text = MINIMAL.replace("component.web", "component.Web_1");
    assert!(parse(&text).is_err());
}

#[test]
fn duplicate_routes_are_rejected() {
    let text = MINIMAL.to_owned() + "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n";
    assert!(
        parse(&text)
            .expect_err("dup")
            .to_string()
            .contains("used by both")
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let text =
        MINIMAL.to_owned() + "[variables]\ntoken = { default = \"hunter2\", secret = true }\n";
    let manifest = parse(&text).expect("valid");
    assert!(!format!("{manifest:?}").contains("hunter2"));
}

#[test]
fn a_bare_file_name_resolves_against_the_current_directory() {
    assert_eq!(base_dir_of(Path::new("spin.toml")), PathBuf::from("."));
    assert_eq!(
        base_dir_of(Path::new("app/spin.toml")),
        PathBuf::from("app")
    );
    assert_eq!(
        base_dir_of(Path::new("/srv/spin.toml")),
        PathBuf::from("/srv")
    );
}

#[test]
fn files_entries_are_patterns_or_placements() {
    let text = MINIMAL.to_owned()
        + "files = [\"static/**/*\", { source = \"content\", destination = \"/site\" }]\nexclude_files = [\"**/*.tmp\"]\n";
    let manifest = parse(&text).expect("valid");
    let web = &manifest.components["web"];
    assert_eq!(
        web.files,
        [
            FilesMount::Pattern("static/**/*".into()),
            FilesMount::Placement {
                source: "content".into(),
                destination: "/site".into()
            }
        ]
    );
    assert_eq!(web.exclude_files, ["**/*.tmp"]);
}

#[test]
fn malformed_files_entries_name_the_component_and_the_fault() {
    let cases = [
        ("files = [1]", "found integer"),
        (
            "files = [{ source = \"a\" }]",
            "missing field `destination`",
        ),
        (
            "files = [{ source = \"a\", destination = \"/a\", mode = \"rw\" }]",
            "unknown field `mode`",
        ),
        (
            "files = [{ source = \"a\", destination = 1 }]",
            "`destination` must be a string",
        ),
        (
            "files = [{ source = \"a\", destination = \"a\" }]",
            "destination `a` must be an absolute path",
        ),
        (
            "files = [{ source = \"a\", destination = \"/a/../../b\" }]",
            "destination `/a/../../b` must not contain `..`",
        ),
        (
            "files = [\"assets/..\"]",
            "can't end in a parent directory path (..)",
        ),
        (
            "files = [\".\"]",
            "can't end in a current directory path (.)",
        ),
        (
            "exclude_files = [\"a/[\"]",
            "Invalid exclude_files glob pattern",
        ),
    ];
    for (line, expected) in cases {
        let text = MINIMAL.to_owned() + line + "\n";
        let err = parse(&text).expect_err(line).to_string();
        assert!(
            err.contains("`web`") && err.contains(expected),
            "{line}: {err}"
        );
    }
}

#[test]
fn build_section_is_parsed() {
    let text = MINIMAL.to_owned()
        + "[component.web.build]\ncommand = \"cargo build\"\nworkdir = \"web\"\nwatch = [\"src/**/*.rs\"]\n";
    let manifest = parse(&text).expect("valid");
    let build = manifest.components["web"].build.as_ref().expect("build");
    assert_eq!(build.command.commands(), vec!["cargo build"]);
    assert_eq!(build.workdir.as_deref(), Some("web"));
}
