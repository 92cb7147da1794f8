//! Outgoing email: notices with a plain-text part, through SMTP (lettre).
//!
//! With no SMTP server configured (a fresh single-machine install), mail goes
//! to `<data dir>/outbox/` as `.eml` files instead, so nothing is lost and an
//! admin can read it.

use std::path::PathBuf;

use lettre::{
    message::{header::ContentType, Mailbox, MultiPart, SinglePart},
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

use crate::{CoreError, CoreResult};

/// Where mail goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Outbox {
        transport: AsyncFileTransport<Tokio1Executor>,
        dir: PathBuf,
        from: Mailbox,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Smtp { from, .. } => write!(f, "Mailer::Smtp(from {from})"),
            Mailer::Outbox { dir, .. } => write!(f, "Mailer::Outbox({})", dir.display()),
        }
    }
}

/// One message: subject, plain text, and optional HTML.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

impl Mailer {
    /// SMTP from a URL (`smtp://user:pass@host:587?tls=required`, `smtps://…`),
    /// or the outbox directory when there is none.
    pub fn new(smtp_url: Option<&str>, from: &str, outbox: PathBuf) -> CoreResult<Mailer> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| CoreError::Invalid(format!("mail_from is not an address: {e}")))?;
        match smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| CoreError::Invalid(format!("smtp_url: {e}")))?
                    .build();
                Ok(Mailer::Smtp { transport, from })
            }
            None => {
                std::fs::create_dir_all(&outbox).map_err(|e| {
                    CoreError::Internal(format!(
                        "cannot create the outbox {}: {e}",
                        outbox.display()
                    ))
                })?;
                Ok(Mailer::Outbox {
                    transport: AsyncFileTransport::new(&outbox),
                    dir: outbox,
                    from,
                })
            }
        }
    }

    fn from(&self) -> &Mailbox {
        match self {
            Mailer::Smtp { from, .. } | Mailer::Outbox { from, .. } => from,
        }
    }

    /// Build and send one message.
    pub async fn send(&self, mail: Mail) -> CoreResult<()> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| CoreError::Invalid(format!("not an address: {e}")))?;
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text);
        let body = match mail.html {
            Some(html) => MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html),
            ),
            None => MultiPart::mixed().singlepart(text),
        };
        let msg = Message::builder()
            .from(self.from().clone())
            .to(to)
            .subject(mail.subject)
            .multipart(body)
            .map_err(|e| CoreError::Internal(format!("cannot build the message: {e}")))?;
        match self {
            Mailer::Smtp { transport, .. } => {
                transport
                    .send(msg)
                    .await
                    .map_err(|e| CoreError::Internal(format!("SMTP: {e}")))?;
            }
            Mailer::Outbox { transport, .. } => {
                transport
                    .send(msg)
                    .await
                    .map_err(|e| CoreError::Internal(format!("outbox: {e}")))?;
            }
        }
        Ok(())
    }
}
