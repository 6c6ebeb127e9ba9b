use crate::helpers::{paid, registered_user, spawn_configured_app};
use servicekit::events;
use servicekit::testing::WAIT;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the fake server received in one mail transaction.
#[derive(Debug, Default)]
struct Received {
    commands: Vec<String>,
    data: String,
}

/// A minimal SMTP server on a free port that accepts every mail.
async fn fake_smtp() -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                write.write_all(b"220 fake.smtp ESMTP\r\n").await.ok()?;
                let mut mail = Received::default();
                let mut in_data = false;
                loop {
                    let mut line = String::new();
                    if lines.read_line(&mut line).await.ok()? == 0 {
                        return Some(());
                    }
                    if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            tx.send(std::mem::take(&mut mail)).ok()?;
                            write.write_all(b"250 2.0.0 queued\r\n").await.ok()?;
                        } else {
                            mail.data.push_str(&line);
                        }
                        continue;
                    }
                    mail.commands.push(line.trim_end().to_owned());
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 fake.smtp\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 end with <CRLF>.<CRLF>\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok()?;
                            return Some(());
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.ok()?;
                }
            });
        }
    });
    (port, rx)
}

/// Undoes quoted-printable soft line breaks and `=XX` escapes of ASCII bytes.
fn unfold(data: &str) -> String {
    data.replace("=\r\n", "").replace("=3D", "=")
}

#[tokio::test]
async fn with_smtp_configured_the_e_ticket_is_mailed_to_the_contact() {
    let (port, mut mails) = fake_smtp().await;
    let app = spawn_configured_app(|s| {
        s.smtp.url = Some(format!("smtp://127.0.0.1:{port}").into());
        s.smtp.from = "RailRush <tickets@railrush.example>".into();
    })
    .await;
    let user = registered_user(&app).await;
    app.publish(events::BOOKING_PAID, &paid(user.user_id, "RR-MAILED-1"))
        .await;

    let mail = tokio::time::timeout(WAIT, mails.recv())
        .await
        .expect("an e-mail arrives")
        .unwrap();
    assert!(
        mail.commands
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&format!("RCPT TO:<{}>", user.email))),
        "{:?}",
        mail.commands
    );
    assert!(
        mail.commands
            .iter()
            .any(|c| c.eq_ignore_ascii_case("MAIL FROM:<tickets@railrush.example>")),
        "{:?}",
        mail.commands
    );
    let data = unfold(&mail.data);
    assert!(data.contains(&user.email), "{data}");
    assert!(data.contains("RR-MAILED-1"), "{data}");
    assert!(data.contains("KA-12"), "{data}");

    let inbox = app.wait_inbox(user.user_id, 1).await;
    assert_eq!(inbox[0]["kind"], "ticket");
    assert_eq!(inbox[0]["channel"], "email");
}
