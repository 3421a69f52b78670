//! The alert rules (`deploy/prometheus/`) and the Grafana dashboard (`deploy/grafana/`) must
//! fit the runtime they watch: `promtool` checks the rules and runs their unit tests, every
//! rule carries what an operator needs, every alert has a history that fires it and one that
//! must not, and every metric the rules and the dashboard name is one a booted app exports
//! (and every metric it exports has a panel).

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{Value, json};
use wasmshop_tests::{EventTransport, Wasmshop, eventually, workspace_root};

const RULES: &str = "deploy/prometheus/wasmshop-alerts.yml";
const RULE_TESTS: &str = "deploy/prometheus/wasmshop-alerts.test.yml";
const DASHBOARD: &str = "deploy/grafana/wasmshop-dashboard.json";
const OPERATIONS: &str = "docs/operations.md";

/// Runs `promtool <args>`; its output when it succeeds, a panic with it when it does not.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool: {e} (scripts/ensure-test-tools.sh installs Debian's prometheus)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}:\n{text}");
    text
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(workspace_root().join(path)).expect(path);
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn alert_rules() -> Vec<Value> {
    let rules = yaml(RULES);
    let groups = rules["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1, "one group");
    groups[0]["rules"].as_array().expect("rules").clone()
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(workspace_root().join(DASHBOARD)).expect(DASHBOARD);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}"))
}

/// Every `expr` of the dashboard's panels, as Grafana sends it (with its variables).
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .map(|target| target["expr"].as_str().expect("expr").to_owned())
        .collect()
}

/// The `wasmshop_runtime_*` names a PromQL expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("wasmshop_runtime_"))
        .map(str::to_owned)
        .collect()
}

/// The series names a scrape can hold, from its `# TYPE` lines: they are written for every
/// registered metric, even before it has a series.
fn exported_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .flat_map(|declaration| {
            let (name, kind) = declaration
                .split_once(' ')
                .unwrap_or_else(|| panic!("a TYPE line names its type: {declaration}"));
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "gauge" => &[""],
                "histogram" => &["_bucket", "_sum", "_count"],
                other => panic!("{name}: a {other} is not expected"),
            };
            suffixes.iter().map(move |suffix| format!("{name}{suffix}"))
        })
        .collect()
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    let checked = promtool(&["check", "rules", RULES]);
    assert!(checked.contains("SUCCESS: 7 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", RULE_TESTS]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_alert_tells_the_operator_what_to_look_at_and_is_tested_both_ways() {
    let rules = alert_rules();
    let names: Vec<&str> = rules
        .iter()
        .map(|rule| rule["alert"].as_str().expect("only alerts in the group"))
        .collect();
    assert_eq!(
        names,
        [
            "WasmshopHigh5xxRatio",
            "WasmshopHighP99Latency",
            "WasmshopOutboxBacklogGrowing",
            "WasmshopDeadLetters",
            "WasmshopSagasStuck",
            "WasmshopRedisTriggerReconnecting",
            "WasmshopInstanceTraps",
        ]
    );
    for rule in &rules {
        let name = &rule["alert"];
        assert!(rule["for"].as_str().is_some(), "{name}: no `for`");
        assert!(
            matches!(
                rule["labels"]["severity"].as_str(),
                Some("warning" | "critical")
            ),
            "{name}: severity"
        );
        for annotation in ["summary", "description"] {
            assert!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|text| text.len() > 20),
                "{name}: {annotation}"
            );
        }
    }

    // promtool only runs the cases written; each alert needs one that fires and one that not.
    let tests = yaml(RULE_TESTS);
    let cases: Vec<&Value> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|test| test["alert_rule_test"].as_array().expect("alert_rule_test"))
        .collect();
    for name in names {
        let of_alert = cases.iter().filter(|case| case["alertname"] == name);
        let expected: Vec<usize> = of_alert
            .map(|case| case["exp_alerts"].as_array().map_or(0, Vec::len))
            .collect();
        assert!(
            expected.contains(&0),
            "{name}: no case where it must not fire"
        );
        assert!(
            expected.iter().any(|&n| n > 0),
            "{name}: no case where it fires"
        );
    }
    let operations = std::fs::read_to_string(workspace_root().join(OPERATIONS)).expect("docs");
    for rule in &rules {
        let name = rule["alert"].as_str().expect("alert");
        assert!(
            operations.contains(&format!("`{name}`")),
            "{OPERATIONS} does not explain {name}"
        );
    }
}

#[test]
fn the_dashboard_is_grafana_json_over_a_chosen_datasource() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 39));
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    assert!(
        variables
            .iter()
            .any(|v| v["name"] == "datasource" && v["type"] == "datasource"),
        "the datasource is a template variable"
    );
    let mut ids = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        assert!(ids.insert(panel["id"].as_u64().expect("id")), "{panel}");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}");
        }
    }

    // Each query, its Grafana variables given values, must be PromQL: promtool parses them as
    // the expressions of recording rules.
    let rules: Vec<Value> = dashboard_exprs(&dashboard)
        .iter()
        .enumerate()
        .map(|(i, expr)| {
            let concrete = expr.replace("$__rate_interval", "5m").replace("$job", ".+");
            assert!(!concrete.contains('$'), "a variable left in {concrete}");
            json!({ "record": format!("dashboard:query_{i}"), "expr": concrete })
        })
        .collect();
    let file = json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(&path, serde_yaml_ng::to_string(&file).expect("yaml")).expect("write");
    let checked = promtool(&["check", "rules", &path.display().to_string()]);
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", rules.len())),
        "{checked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_and_the_dashboard_read_what_the_runtime_exports() {
    let shop = Wasmshop::app()
        .workflow(EventTransport::Redis)
        .start()
        .await
        .expect("boot");
    // Orders makes its tables on its first recovery tick; the gauges read from them follow.
    let exposition = eventually("the gauges of orders' tables", || async {
        let text = wasmshop_tests::scrape_metrics(&shop).await.ok()?;
        [
            r#"wasmshop_runtime_stuck_sagas{database="orders"} 0"#,
            r#"wasmshop_runtime_dead_letters{database="orders",status="dead"} 0"#,
            r#"wasmshop_runtime_outbox_backlog{database="orders"} 0"#,
        ]
        .iter()
        .all(|series| text.contains(series))
        .then_some(text)
    })
    .await;
    assert!(
        exposition.lines().any(|line| line
            .starts_with("wasmshop_runtime_redis_reconnects_total{address=")
            && line.ends_with(" 0")),
        "the Redis trigger's reconnect counter is there at zero:\n{exposition}"
    );
    let exported = exported_names(&exposition);
    assert!(exported.contains("wasmshop_runtime_http_request_duration_seconds_bucket"));

    let rule_names: BTreeSet<String> = alert_rules()
        .iter()
        .flat_map(|rule| metric_names(rule["expr"].as_str().expect("expr")))
        .collect();
    let dashboard_names: BTreeSet<String> = dashboard_exprs(&dashboard())
        .iter()
        .flat_map(|expr| metric_names(expr))
        .collect();
    for (what, names) in [("rules", &rule_names), ("dashboard", &dashboard_names)] {
        let unknown: Vec<&String> = names.difference(&exported).collect();
        assert!(unknown.is_empty(), "the {what} read unexported {unknown:?}");
    }

    // Every metric family has a panel (a histogram's through its buckets).
    let families: BTreeSet<&str> = exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|declaration| declaration.split_once(' ').map(|(name, _)| name))
        .collect();
    for family in families {
        assert!(
            dashboard_names.iter().any(|name| name
                .strip_prefix(family)
                .is_some_and(|suffix| { ["", "_total", "_bucket"].contains(&suffix) })),
            "no panel shows {family}"
        );
    }
}
