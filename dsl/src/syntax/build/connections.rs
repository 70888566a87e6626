//! Building connections (with their auth) and mappings.

use super::{Builder, Built};
use crate::ast::*;
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::Rule;
use pest::iterators::Pair;

impl Builder {
    pub(super) fn connection(&mut self, pair: Pair<Rule>) -> Built<Connection> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.next(&mut inner, span)?;
        let name = self.ident(&name);
        let mut options = Vec::new();
        for opt in inner {
            let opt_span = self.span(&opt);
            let node = match opt.as_rule() {
                Rule::base_url => ConnectionOption::BaseUrl(self.only_expr(opt)?),
                Rule::auth => ConnectionOption::Auth(self.auth(opt)?),
                Rule::headers => ConnectionOption::Headers(self.only_expr(opt)?),
                Rule::rate_limit => {
                    let mut parts = opt.into_inner();
                    let count = self.next(&mut parts, opt_span)?;
                    let count = self.count(count);
                    let per = self.next(&mut parts, opt_span)?;
                    let per_span = self.span(&per);
                    let period = match per.as_str() {
                        "second" => RatePeriod::Second,
                        "minute" => RatePeriod::Minute,
                        "hour" => RatePeriod::Hour,
                        other => {
                            self.diagnostics.push(
                                Diagnostic::error(
                                    Code::InvalidOptionValue,
                                    self.file,
                                    per_span,
                                    format!("invalid rate period `{other}`"),
                                )
                                .with_label("not a period")
                                .with_hint("use `second`, `minute` or `hour`"),
                            );
                            continue;
                        }
                    };
                    ConnectionOption::RateLimit {
                        count,
                        per: Spanned {
                            node: period,
                            span: per_span,
                        },
                    }
                }
                Rule::timeout => ConnectionOption::Timeout(self.timeout(opt)?),
                Rule::retry => ConnectionOption::Retry(self.retry(opt)?),
                Rule::unknown_opt => ConnectionOption::Unknown(self.unknown(opt)?),
                _ => continue,
            };
            options.push(Spanned {
                node,
                span: opt_span,
            });
        }
        Some(Connection {
            name,
            options,
            span,
        })
    }

    pub(super) fn auth(&mut self, pair: Pair<Rule>) -> Built<Auth> {
        let span = self.span(&pair);
        let form = self.next(&mut pair.into_inner(), span)?;
        let form_span = self.span(&form);
        match form.as_rule() {
            Rule::auth_bearer => Some(Auth::Bearer {
                token: self.only_expr(form)?,
            }),
            Rule::auth_basic => {
                let mut parts = form.into_inner();
                let user = self.next(&mut parts, form_span)?;
                let password = self.next(&mut parts, form_span)?;
                Some(Auth::Basic {
                    user: self.expr(user)?,
                    password: self.expr(password)?,
                })
            }
            _ => {
                let mut parts = form.into_inner();
                let kind = self.next(&mut parts, form_span)?;
                let kind = self.ident(&kind);
                let mut fields = Vec::new();
                for field in parts {
                    let field_span = self.span(&field);
                    let mut fp = field.into_inner();
                    let name = self.next(&mut fp, field_span)?;
                    let name = self.ident(&name);
                    let value = self.next(&mut fp, field_span)?;
                    fields.push(AuthField {
                        name,
                        value: self.expr(value)?,
                    });
                }
                match kind.name.as_str() {
                    "api_key" => Some(Auth::ApiKey { fields }),
                    "oauth2_client_credentials" => Some(Auth::OAuth2ClientCredentials { fields }),
                    "oauth2_refresh_token" => Some(Auth::OAuth2RefreshToken { fields }),
                    other => {
                        let hint = crate::diagnostic::did_you_mean(
                            other,
                            [
                                "bearer",
                                "basic",
                                "api_key",
                                "oauth2_client_credentials",
                                "oauth2_refresh_token",
                            ],
                        );
                        let mut d = Diagnostic::error(
                            Code::InvalidOptionValue,
                            self.file,
                            kind.span,
                            format!("unknown auth form `{other}`"),
                        )
                        .with_label("not an auth form");
                        d = d.with_hint(match hint {
                            Some(h) => format!("did you mean `{h}`?"),
                            None => "use bearer(…), basic(…, …), api_key {…}, oauth2_client_credentials {…} or oauth2_refresh_token {…}".into(),
                        });
                        self.diagnostics.push(d);
                        None
                    }
                }
            }
        }
    }

    pub(super) fn mapping(&mut self, pair: Pair<Rule>) -> Built<Mapping> {
        let span = self.span(&pair);
        let mut parts: Vec<Pair<Rule>> = pair.into_inner().collect();
        let body = parts.pop()?;
        let body = self.expr(body)?;
        let mut idents = parts.iter().map(|p| self.ident(p));
        let name = idents.next()?;
        Some(Mapping {
            name,
            params: idents.collect(),
            body,
            span,
        })
    }
}
