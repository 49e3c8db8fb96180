//! `tollgate proxy` verifies its upstream's certificate: a server with a self-signed one (an
//! `openssl s_server` on loopback) gets no request, the client a 502 that says TLS failed.
//! Skipped, with a notice, where `openssl` is not installed.
#![cfg(feature = "https")]

mod proxy_support;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proxy_support::{agent, chat_body, post, start_proxy};

#[test]
fn a_self_signed_upstream_is_refused() {
    let dir = std::env::temp_dir().join(format!("tollgate-proxy-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !made.is_ok_and(|status| status.success()) {
        eprintln!("SKIPPED a_self_signed_upstream_is_refused: openssl is not installed");
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
        .arg("-key")
        .arg(&key)
        .arg("-cert")
        .arg(&cert)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let begun = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            begun.elapsed() < Duration::from_secs(5),
            "openssl s_server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let upstream = format!("https://127.0.0.1:{port}");
    let proxy = start_proxy(&["--upstream", &upstream, "--requests", "10/s"], &[]);
    let (status, body) = post(
        &agent(),
        &format!("{}/v1/chat/completions", proxy.url),
        &chat_body("hi", 4),
    );
    server.kill().ok();
    server.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("TLS with the upstream failed"), "{body}");
}
