//! Sending email with lettre: SMTP (no TLS, STARTTLS or implicit TLS, with
//! optional credentials, a timeout and pooled connections that are reused
//! between messages) or, for development, a folder of `.eml` files.
//!
//! Messages are built with lettre's typed builder: addresses are parsed
//! into mailboxes and every header is encoded by lettre, so no field can
//! inject a header; the subject comes pre-flattened to one line.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::templates::Rendered;
use crate::config::{MailBackend, MailConfig, SmtpTls};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail configuration: {0}")]
    Config(String),
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("sending failed: {0}")]
    Send(String),
}

pub enum Mailer {
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

pub struct Outgoing {
    pub mailer: Mailer,
    pub from: Mailbox,
}

impl Outgoing {
    pub fn from_config(config: &MailConfig) -> Result<Outgoing, MailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| MailError::Config(format!("mail.from: {e}")))?;
        let mailer = match config.backend {
            MailBackend::File => {
                std::fs::create_dir_all(&config.outbox_dir).map_err(|e| {
                    MailError::Config(format!(
                        "mail.outbox_dir {}: {e}",
                        config.outbox_dir.display()
                    ))
                })?;
                Mailer::File(AsyncFileTransport::new(&config.outbox_dir))
            }
            MailBackend::Smtp => Mailer::Smtp(smtp(config)?),
        };
        Ok(Outgoing { mailer, from })
    }

    /// Sends one rendered email to `to`.
    pub async fn send(&self, to: &str, email: &Rendered) -> Result<(), MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Message(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Message(e.to_string()))?;
        match &self.mailer {
            Mailer::File(transport) => transport
                .send(message)
                .await
                .map(drop)
                .map_err(|e| MailError::Send(e.to_string())),
            Mailer::Smtp(transport) => transport
                .send(message)
                .await
                .map(drop)
                .map_err(|e| MailError::Send(e.to_string())),
        }
    }
}

fn smtp(config: &MailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let smtp = &config.smtp;
    let builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| MailError::Config(format!("mail.smtp: {e}")))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
            .map_err(|e| MailError::Config(format!("mail.smtp: {e}")))?,
    };
    let mut builder = builder.port(smtp.port).timeout(Some(*smtp.timeout));
    if !smtp.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            smtp.username.clone(),
            smtp.password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}
