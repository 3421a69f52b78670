//! Component `files` as Spin 4.0.2 mounts them: string globs at their path relative to the
//! manifest's directory, `{ source, destination }` directories at their destination,
//! `exclude_files` taken out, all read-only, nothing outside reachable. The fixture reads,
//! writes and lists paths the tests choose (`?op=read|write|tree&path=`).

mod support;

use std::net::SocketAddr;
use std::path::Path;

use local_infra::manifest::Manifest;
use local_infra::server::RunningApp;
use support::encode;

/// An app served from a directory of its own, so the manifest's directory is one the test laid.
struct FilesApp {
    /// Serves until the test ends.
    _running: RunningApp,
    base: String,
    _state: tempfile::TempDir,
}

impl FilesApp {
    async fn get(&self, op: &str, path: &str) -> (u16, String) {
        let url = format!("{}/?op={op}&path={}", self.base, encode(path));
        support::send(reqwest::Client::new().get(url)).await
    }

    async fn read(&self, path: &str) -> (u16, String) {
        self.get("read", path).await
    }

    async fn write(&self, path: &str, body: &str) -> (u16, String) {
        let url = format!("{}/?op=write&path={}", self.base, encode(path));
        support::send(reqwest::Client::new().post(url).body(body.to_owned())).await
    }

    async fn tree(&self) -> Vec<String> {
        let (status, body) = self.get("tree", "/").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("a JSON list")
    }
}

/// `component_extra` is added to the `[component.web]` table.
fn manifest(component_extra: &str) -> String {
    format!(
        r#"
spin_manifest_version = 2
[application]
name = "files"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "{}"
{component_extra}
"#,
        support::fixture_wasm().display()
    )
}

async fn try_start(app_dir: &Path, component_extra: &str) -> anyhow::Result<FilesApp> {
    let manifest = Manifest::parse(&manifest(component_extra), app_dir.to_owned())?;
    let state = tempfile::tempdir().expect("state dir");
    let options = support::options(state.path());
    let running = RunningApp::start_manifest(
        manifest,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        &options,
        |_, _| {},
    )
    .await?;
    let addr = running.http_addr().expect("an HTTP trigger");
    Ok(FilesApp {
        _running: running,
        base: format!("http://{addr}"),
        _state: state,
    })
}

async fn start(app_dir: &Path, component_extra: &str) -> FilesApp {
    try_start(app_dir, component_extra)
        .await
        .expect("the app starts")
}

fn put(root: &Path, relative: &str, content: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

/// A storefront's assets: CSS, images at several depths, a draft to exclude, a content dir for
/// a source/destination mount, and files no entry names.
fn app_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("app dir");
    let root = dir.path();
    put(root, "static/style.css", "body{}");
    put(root, "static/img/logo.svg", "<svg/>");
    put(root, "static/img/deep/er/photo.png", "png");
    put(root, "static/notes.tmp", "draft");
    put(root, "static/img/old.tmp", "old");
    put(root, "content/index.html", "<h1>home</h1>");
    put(root, "content/docs/page.html", "<p>page</p>");
    put(root, "content/docs/wip.tmp", "wip");
    put(root, "readme.txt", "read me");
    put(root, "private.key", "not for guests");
    dir
}

const STOREFRONT: &str = r#"files = ["static/**/*", "readme.txt", { source = "content", destination = "/site" }]
exclude_files = ["**/*.tmp"]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_string_glob_mounts_each_match_at_its_path_relative_to_the_manifest() {
    let dir = app_dir();
    let app = start(dir.path(), STOREFRONT).await;
    assert_eq!(app.read("/static/style.css").await, (200, "body{}".into()));
    assert_eq!(app.read("/readme.txt").await, (200, "read me".into()));
    // Relative guest paths resolve against `/`, as in Spin.
    assert_eq!(app.read("static/style.css").await, (200, "body{}".into()));
    let (status, body) = app.read("/private.key").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_star_matches_files_at_every_depth() {
    let dir = app_dir();
    let app = start(dir.path(), r#"files = ["static/**/*.png", "static/*.css"]"#).await;
    assert_eq!(
        app.read("/static/img/deep/er/photo.png").await,
        (200, "png".into())
    );
    assert_eq!(
        app.tree().await,
        ["/static/img/deep/er/photo.png", "/static/style.css"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_directory_is_mounted_at_its_destination() {
    let dir = app_dir();
    let app = start(
        dir.path(),
        r#"files = [{ source = "content", destination = "/site" }, { source = "readme.txt", destination = "/docs/README" }]"#,
    )
    .await;
    assert_eq!(
        app.read("/site/index.html").await,
        (200, "<h1>home</h1>".into())
    );
    assert_eq!(
        app.read("/site/docs/page.html").await,
        (200, "<p>page</p>".into())
    );
    assert_eq!(app.read("/docs/README").await, (200, "read me".into()));
    let (status, body) = app.read("/content/index.html").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclude_files_takes_matches_out_of_every_mount() {
    let dir = app_dir();
    let app = start(dir.path(), STOREFRONT).await;
    assert_eq!(
        app.tree().await,
        [
            "/readme.txt",
            "/site/docs/page.html",
            "/site/index.html",
            "/static/img/deep/er/photo.png",
            "/static/img/logo.svg",
            "/static/style.css",
        ]
    );
    let (status, body) = app.read("/static/notes.tmp").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounts_are_read_only() {
    let dir = app_dir();
    let app = start(dir.path(), STOREFRONT).await;
    for path in [
        "/static/style.css",
        "/static/new.css",
        "/new.txt",
        "/site/x",
    ] {
        let (status, body) = app.write(path, "defaced").await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    assert_eq!(app.read("/static/style.css").await, (200, "body{}".into()));
    let (status, body) = app.read("/new.txt").await;
    assert_eq!(status, 404, "{body}");
    let on_disk = std::fs::read_to_string(dir.path().join("static/style.css")).expect("read");
    assert_eq!(on_disk, "body{}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_outside_the_mounts_is_reachable() {
    let dir = app_dir();
    let app = start(dir.path(), STOREFRONT).await;
    let host_file = "/etc/hostname";
    assert!(Path::new(host_file).exists(), "the host has {host_file}");
    let escapes = [
        "/../../../../../../etc/hostname".to_owned(),
        "../../../../../../etc/hostname".to_owned(),
        "/static/../../../../../etc/hostname".to_owned(),
        host_file.to_owned(),
        // The app's own directory by its host path, and its unmounted file by `..`.
        dir.path().join("private.key").display().to_string(),
        "/static/../private.key".to_owned(),
        "/../private.key".to_owned(),
    ];
    for path in escapes {
        let (status, body) = app.read(&path).await;
        assert!(
            status == 404 || status == 403,
            "{path} answered {status}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_within_the_app_dir_is_served_as_its_target() {
    let dir = app_dir();
    std::os::unix::fs::symlink("style.css", dir.path().join("static/alias.css")).expect("link");
    let app = start(dir.path(), r#"files = ["static/*.css"]"#).await;
    assert_eq!(app.read("/static/alias.css").await, (200, "body{}".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_to_outside_the_app_dir_refuses_the_app() {
    let outside = tempfile::tempdir().expect("outside");
    put(outside.path(), "secret.txt", "secret");
    put(outside.path(), "dir/secret.txt", "secret");
    let cases = [
        (
            "static/leak.css",
            "secret.txt",
            r#"files = ["static/*.css"]"#,
        ),
        (
            "content/linked",
            "dir",
            r#"files = [{ source = "content", destination = "/site" }]"#,
        ),
        ("leak.txt", "secret.txt", r#"files = ["leak.txt"]"#),
        ("linked", "dir", r#"files = ["linked/**/*"]"#),
    ];
    for (link, target, files) in cases {
        let dir = app_dir();
        std::os::unix::fs::symlink(outside.path().join(target), dir.path().join(link))
            .expect("link");
        let refused = try_start(dir.path(), files).await;
        let err = format!("{:#}", refused.err().expect("refused"));
        assert!(
            err.contains("outside the application directory") && err.contains("`web`"),
            "{link}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_sources_and_bad_destinations_refuse_the_app_with_spins_words() {
    let dir = app_dir();
    let cases = [
        (
            r#"files = [{ source = "assets", destination = "/assets" }]"#,
            r#"File or directory "assets" does not exist"#,
        ),
        (
            r#"files = ["missing.css"]"#,
            r#""missing.css" does not exist and doesn't appear to be a glob pattern"#,
        ),
        (
            r#"files = [{ source = "readme.txt", destination = "/" }]"#,
            r#""/" is not a valid destination file name"#,
        ),
        (
            r#"files = ["/etc/hostname"]"#,
            "outside the application directory",
        ),
        (r#"files = ["../*"]"#, "outside the application directory"),
    ];
    for (files, expected) in cases {
        let refused = try_start(dir.path(), files).await;
        let err = format!("{:#}", refused.err().expect("refused"));
        assert!(err.contains(expected), "{files}: {err}");
        assert!(err.contains("`web`"), "{files}: {err}");
    }
    // A glob that matches nothing is no error in Spin: the component gets an empty mount.
    let app = start(dir.path(), r#"files = ["nothing/*.css"]"#).await;
    assert!(app.tree().await.is_empty());
}

#[test]
fn a_relative_destination_is_refused_when_the_manifest_is_read() {
    let dir = app_dir();
    let text = manifest(r#"files = [{ source = "content", destination = "site" }]"#);
    let err = Manifest::parse(&text, dir.path().to_owned())
        .expect_err("relative destination")
        .to_string();
    assert!(
        err.contains("`web`") && err.contains("destination `site` must be an absolute path"),
        "{err}"
    );
}
