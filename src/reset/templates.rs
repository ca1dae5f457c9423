//! The reset email's subject, plain-text and HTML bodies: built-in
//! templates (`templates/` in the source tree), each replaceable by a file
//! of the same name in `mail.templates_dir`. Variables are written
//! `{{product_name}}`, `{{link}}`, `{{email}}` and `{{valid_minutes}}`;
//! values are HTML-escaped in the HTML body, and the subject is one line.

use std::path::Path;

const SUBJECT: &str = include_str!("../../templates/reset_subject.txt");
const TEXT: &str = include_str!("../../templates/reset.txt");
const HTML: &str = include_str!("../../templates/reset.html");

#[derive(Debug, Clone)]
pub struct Templates {
    subject: String,
    text: String,
    html: String,
}

/// The values one email is rendered with.
pub struct Values<'a> {
    pub product_name: &'a str,
    pub link: &'a str,
    pub email: &'a str,
    pub valid_minutes: u64,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Templates {
    /// The built-in templates, replaced by any of `reset_subject.txt`,
    /// `reset.txt`, `reset.html` found in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, String> {
        let read = |name: &str, builtin: &str| -> Result<String, String> {
            match dir.map(|d| d.join(name)) {
                Some(path) if path.exists() => std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read the template {}: {e}", path.display())),
                _ => Ok(builtin.to_string()),
            }
        };
        Ok(Templates {
            subject: read("reset_subject.txt", SUBJECT)?,
            text: read("reset.txt", TEXT)?,
            html: read("reset.html", HTML)?,
        })
    }

    pub fn render(&self, values: &Values<'_>) -> Rendered {
        let minutes = values.valid_minutes.to_string();
        let pairs = [
            ("product_name", values.product_name),
            ("link", values.link),
            ("email", values.email),
            ("valid_minutes", minutes.as_str()),
        ];
        let fill = |template: &str, escape: bool| {
            pairs
                .iter()
                .fold(template.to_string(), |text, (name, value)| {
                    let value = if escape {
                        html_escape(value)
                    } else {
                        (*value).to_string()
                    };
                    text.replace(&format!("{{{{{name}}}}}"), &value)
                })
        };
        let subject = fill(&self.subject, false);
        Rendered {
            // A header is one line whatever a template or value holds.
            subject: subject
                .split(['\r', '\n'])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            text: fill(&self.text, false),
            html: fill(&self.html, true),
        }
    }
}

fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values<'a>(link: &'a str) -> Values<'a> {
        Values {
            product_name: "Acme <ID>",
            link,
            email: "ada@example.com",
            valid_minutes: 10,
        }
    }

    #[test]
    fn renders_every_variable_and_escapes_html_only() {
        let rendered = Templates::load(None)
            .unwrap()
            .render(&values("https://app/reset?token=a&b"));
        assert_eq!(rendered.subject, "Reset your Acme <ID> password");
        assert!(
            rendered.text.contains("https://app/reset?token=a&b")
                && rendered.text.contains("10 minutes")
        );
        assert!(rendered
            .html
            .contains("href=\"https://app/reset?token=a&amp;b\""));
        assert!(rendered.html.contains("Acme &lt;ID&gt;"));
        assert!(!rendered.text.contains("{{") && !rendered.html.contains("{{"));
    }

    #[test]
    fn operators_templates_replace_the_built_in_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("reset_subject.txt"),
            "Line one\r\nBcc: evil@example.com\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("reset.txt"), "Go to {{link}}").unwrap();
        let rendered = Templates::load(Some(dir.path()))
            .unwrap()
            .render(&values("L"));
        assert_eq!(
            rendered.subject, "Line one Bcc: evil@example.com",
            "one line: no header can be injected"
        );
        assert_eq!(rendered.text, "Go to L");
        assert!(
            rendered.html.contains("<a href=\"L\">"),
            "reset.html is still the built-in one"
        );
    }
}
