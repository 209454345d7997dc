//! The `sasl.jaas.config` value: one JAAS login-module entry, as Kafka clients write it.
//!
//! ```text
//! org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";
//! ```
//!
//! Grammar (Kafka's `JaasConfig`, which uses Java's `StreamTokenizer`): a login-module class,
//! a control flag (`required`, `requisite`, `sufficient`, `optional`), `name=value` options
//! and a terminating `;`. Values are bare words or `"`/`'`-quoted strings with backslash
//! escapes; `//` and `/* */` comments are skipped. Kafka accepts exactly one entry here.
//!
//! Invariant: an error never quotes the input. The text holds a password, and in a garbled
//! entry any token may be (part of) it, so errors say what was expected and at which
//! character, and name only login-module classes and the option names listed in
//! [`NAMEABLE_OPTIONS`].

use std::collections::BTreeMap;

/// Option names safe to repeat in an error message.
const NAMEABLE_OPTIONS: &[&str] = &["username", "password", "tokenauth", "serviceName"];

/// A parsed login-module entry. Option values may be secrets: `Debug` hides them.
#[derive(Clone, PartialEq, Eq)]
pub struct JaasEntry {
    pub login_module: String,
    pub control_flag: String,
    pub options: BTreeMap<String, String>,
}

impl std::fmt::Debug for JaasEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JaasEntry")
            .field("login_module", &self.login_module)
            .field("control_flag", &self.control_flag)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
}

impl Lexer<'_> {
    /// Next token and the character position it starts at.
    fn next(&mut self) -> Result<Option<(usize, Token)>, String> {
        loop {
            let Some(&(pos, c)) = self.chars.peek() else {
                return Ok(None);
            };
            if c.is_whitespace() {
                self.chars.next();
                continue;
            }
            if c == '/' {
                let mut look = self.chars.clone();
                look.next();
                match look.peek().map(|&(_, c)| c) {
                    Some('/') => {
                        for (_, c) in self.chars.by_ref() {
                            if c == '\n' {
                                break;
                            }
                        }
                        continue;
                    }
                    Some('*') => {
                        self.chars.next();
                        self.chars.next();
                        let mut prev = ' ';
                        let mut closed = false;
                        for (_, c) in self.chars.by_ref() {
                            if prev == '*' && c == '/' {
                                closed = true;
                                break;
                            }
                            prev = c;
                        }
                        if !closed {
                            return Err(format!(
                                "unterminated /* comment starting at character {pos}"
                            ));
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            self.chars.next();
            return match c {
                '=' => Ok(Some((pos, Token::Equals))),
                ';' => Ok(Some((pos, Token::Semicolon))),
                '"' | '\'' => self.quoted(pos, c).map(|s| Some((pos, Token::Quoted(s)))),
                _ => {
                    let mut word = String::from(c);
                    while let Some(&(_, c)) = self.chars.peek() {
                        if c.is_whitespace() || matches!(c, '=' | ';' | '"' | '\'') {
                            break;
                        }
                        word.push(c);
                        self.chars.next();
                    }
                    Ok(Some((pos, Token::Word(word))))
                }
            };
        }
    }

    fn quoted(&mut self, start: usize, quote: char) -> Result<String, String> {
        let mut out = String::new();
        while let Some((_, c)) = self.chars.next() {
            if c == quote {
                return Ok(out);
            }
            if c == '\\' {
                match self.chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, 'b')) => out.push('\u{8}'),
                    Some((_, 'f')) => out.push('\u{c}'),
                    Some((_, other)) => out.push(other),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err(format!(
            "unterminated quoted value starting at character {start}"
        ))
    }
}

fn looks_like_class_name(s: &str) -> bool {
    s.contains('.')
        && s.len() <= 200
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '$'))
}

fn describe_option(name: &str) -> String {
    if NAMEABLE_OPTIONS.contains(&name) {
        format!("option '{name}'")
    } else {
        "an option".to_string()
    }
}

/// Parses one JAAS entry. Errors are safe to show (see the module invariant).
pub fn parse(text: &str) -> Result<JaasEntry, String> {
    let mut lexer = Lexer {
        chars: text.char_indices().peekable(),
    };
    let login_module = match lexer.next()? {
        Some((_, Token::Word(w))) => w,
        None => return Err("is empty; expected a login module entry".to_string()),
        Some((pos, _)) => {
            return Err(format!(
                "expected a login module class name at character {pos}"
            ))
        }
    };
    if !looks_like_class_name(&login_module) {
        return Err("does not start with a login module class name".to_string());
    }
    let control_flag = match lexer.next()? {
        Some((pos, Token::Word(w))) => {
            let lower = w.to_ascii_lowercase();
            if !matches!(
                lower.as_str(),
                "required" | "requisite" | "sufficient" | "optional"
            ) {
                return Err(format!(
                    "invalid control flag at character {pos}; expected required, requisite, \
                     sufficient or optional after {login_module}"
                ));
            }
            lower
        }
        other => {
            let pos = other.map(|(p, _)| p).unwrap_or(text.len());
            return Err(format!(
                "expected a control flag (required, requisite, sufficient, optional) at \
                 character {pos} after {login_module}"
            ));
        }
    };
    let mut options = BTreeMap::new();
    loop {
        match lexer.next()? {
            Some((_, Token::Semicolon)) => break,
            Some((pos, Token::Word(name))) => {
                match lexer.next()? {
                    Some((_, Token::Equals)) => {}
                    _ => {
                        return Err(format!(
                            "expected '=' after {} at character {pos}",
                            describe_option(&name)
                        ))
                    }
                }
                let value = match lexer.next()? {
                    Some((_, Token::Word(v))) | Some((_, Token::Quoted(v))) => v,
                    _ => {
                        return Err(format!(
                            "missing value for {} at character {pos}",
                            describe_option(&name)
                        ))
                    }
                };
                if options.insert(name.clone(), value).is_some() {
                    return Err(format!("{} is given twice", describe_option(&name)));
                }
            }
            Some((pos, _)) => {
                return Err(format!("expected an option name or ';' at character {pos}"))
            }
            None => {
                return Err("is missing the terminating ';'".to_string());
            }
        }
    }
    if let Some((pos, _)) = lexer.next()? {
        return Err(format!(
            "has text after the first entry (character {pos}); Kafka clients accept exactly \
             one login module in sasl.jaas.config"
        ));
    }
    Ok(JaasEntry {
        login_module,
        control_flag,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_scram_entries() {
        let e = parse(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"a\\\"b;c\";",
        )
        .unwrap();
        assert_eq!(
            e.login_module,
            "org.apache.kafka.common.security.plain.PlainLoginModule"
        );
        assert_eq!(e.control_flag, "required");
        assert_eq!(e.options["username"], "alice");
        assert_eq!(e.options["password"], "a\"b;c");

        let e = parse(
            "  org.apache.kafka.common.security.scram.ScramLoginModule REQUIRED\n  username=bob // comment\n  /* block */ password='p w' tokenauth=true ;  ",
        )
        .unwrap();
        assert_eq!(e.control_flag, "required");
        assert_eq!(e.options["username"], "bob");
        assert_eq!(e.options["password"], "p w");
        assert_eq!(e.options["tokenauth"], "true");
    }

    #[test]
    fn errors_never_quote_the_input() {
        let secret = "Hunter2-S3cret";
        let cases = [
            String::new(),
            secret.to_string(),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule {secret} username=u;"),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required username=u password=\"{secret};"),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required username=u password {secret};"),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required username=u password=\"x\" {secret};"),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required username=u {secret}=\"x\""),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required password=\"{secret}\"; extra"),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required password=\"{secret}\" password=\"{secret}\";"),
            format!("org.apache.kafka.common.security.plain.PlainLoginModule required password=\"{secret}\" /* {secret}"),
            "org.apache.kafka.common.security.plain.PlainLoginModule required password=".to_string(),
        ];
        for case in cases {
            let err = parse(&case).unwrap_err();
            assert!(!err.contains(secret), "{err:?} leaks the secret");
            assert!(!err.contains("Hunter"), "{err:?}");
        }
        let e = parse(&format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"{secret}\";"
        ))
        .unwrap();
        assert!(!format!("{e:?}").contains(secret));
    }
}
