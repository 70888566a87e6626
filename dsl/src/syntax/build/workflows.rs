//! Building workflows: their input, triggers and signature checks.

use super::{Builder, Built};
use crate::ast::*;
use crate::syntax::Rule;
use pest::iterators::Pair;

impl Builder {
    pub(super) fn workflow(&mut self, pair: Pair<Rule>) -> Built<Workflow> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.next(&mut inner, span)?;
        let name = self.ident(&name);
        let mut items = Vec::new();
        for item in inner {
            let item_span = self.span(&item);
            let node = match item.as_rule() {
                Rule::description => WorkflowItem::Description(self.str_opt(item)?),
                Rule::input => WorkflowItem::Input(self.input(item)?),
                Rule::trigger => WorkflowItem::Trigger(self.trigger(item)?),
                Rule::defaults => {
                    let mut opts = Vec::new();
                    for opt in item.into_inner() {
                        let s = self.span(&opt);
                        let node = match opt.as_rule() {
                            Rule::retry => DefaultsOption::Retry(self.retry(opt)?),
                            Rule::timeout => DefaultsOption::Timeout(self.timeout(opt)?),
                            _ => DefaultsOption::Unknown(self.unknown(opt)?),
                        };
                        opts.push(Spanned { node, span: s });
                    }
                    WorkflowItem::Defaults(opts)
                }
                Rule::step => WorkflowItem::Step(self.step(item)?),
                Rule::output => WorkflowItem::Output(self.only_expr(item)?),
                Rule::on_failure => {
                    let mut steps = Vec::new();
                    for s in item.into_inner() {
                        if let Some(step) = self.step(s) {
                            steps.push(step);
                        }
                    }
                    WorkflowItem::OnFailure(steps)
                }
                Rule::unknown_opt => WorkflowItem::Unknown(self.unknown(item)?),
                _ => continue,
            };
            items.push(Spanned {
                node,
                span: item_span,
            });
        }
        Some(Workflow { name, items, span })
    }

    pub(super) fn input(&mut self, pair: Pair<Rule>) -> Built<Vec<InputField>> {
        let mut fields = Vec::new();
        for field in pair.into_inner() {
            let span = self.span(&field);
            let mut parts = field.into_inner();
            let name = self.next(&mut parts, span)?;
            let name = self.ident(&name);
            let ty = self.next(&mut parts, span)?;
            let ty = self.ident(&ty);
            let mut optional = false;
            let mut default = None;
            for rest in parts {
                match rest.as_rule() {
                    Rule::optional => optional = true,
                    _ => default = Some(self.expr(rest)?),
                }
            }
            fields.push(InputField {
                name,
                ty,
                optional,
                default,
                span,
            });
        }
        Some(fields)
    }

    pub(super) fn trigger(&mut self, pair: Pair<Rule>) -> Built<Trigger> {
        let span = self.span(&pair);
        let form = self.next(&mut pair.into_inner(), span)?;
        let form_span = self.span(&form);
        let is_cron = form.as_rule() == Rule::cron;
        let mut parts = form.into_inner();
        let first = self.next(&mut parts, form_span)?;
        let head = self.str_opt_inner(first)?;
        if is_cron {
            let mut options = Vec::new();
            for opt in parts {
                let s = self.span(&opt);
                let node = match opt.as_rule() {
                    Rule::timezone => CronOption::Timezone(self.str_opt(opt)?),
                    Rule::overlap => CronOption::Overlap(self.only_ident(opt)?),
                    Rule::catchup => CronOption::Catchup(self.only_ident(opt)?),
                    Rule::cron_input => CronOption::Input(self.only_expr(opt)?),
                    _ => CronOption::Unknown(self.unknown(opt)?),
                };
                options.push(Spanned { node, span: s });
            }
            Some(Trigger::Cron(CronTrigger {
                schedule: head,
                options,
            }))
        } else {
            let mut options = Vec::new();
            for opt in parts {
                let s = self.span(&opt);
                let node = match opt.as_rule() {
                    Rule::method => WebhookOption::Method(self.only_ident(opt)?),
                    Rule::verify => WebhookOption::Verify(self.verify(opt)?),
                    Rule::dedupe => WebhookOption::Dedupe(self.only_expr(opt)?),
                    Rule::respond => {
                        let r = self.next(&mut opt.into_inner(), s)?;
                        match r.as_rule() {
                            Rule::respond_sync => {
                                let d = self.next(&mut r.into_inner(), s)?;
                                WebhookOption::Respond(Respond::Sync(self.duration_lit(d)?))
                            }
                            _ => WebhookOption::Respond(Respond::Async),
                        }
                    }
                    _ => WebhookOption::Unknown(self.unknown(opt)?),
                };
                options.push(Spanned { node, span: s });
            }
            Some(Trigger::Webhook(WebhookTrigger {
                path: head,
                options,
            }))
        }
    }

    pub(super) fn verify(&mut self, pair: Pair<Rule>) -> Built<Verify> {
        let span = self.span(&pair);
        let form = self.next(&mut pair.into_inner(), span)?;
        let form_span = self.span(&form);
        match form.as_rule() {
            Rule::verify_hmac => {
                let mut options = Vec::new();
                for opt in form.into_inner() {
                    let s = self.span(&opt);
                    let node = match opt.as_rule() {
                        Rule::hmac_algorithm => HmacOption::Algorithm(self.only_ident(opt)?),
                        Rule::hmac_secret => HmacOption::Secret(self.only_expr(opt)?),
                        Rule::hmac_header => HmacOption::Header(self.str_opt(opt)?),
                        Rule::hmac_encoding => HmacOption::Encoding(self.only_ident(opt)?),
                        Rule::hmac_prefix => HmacOption::Prefix(self.str_opt(opt)?),
                        _ => HmacOption::Unknown(self.unknown(opt)?),
                    };
                    options.push(Spanned { node, span: s });
                }
                Some(Verify::Hmac(options))
            }
            Rule::verify_call => {
                let mut parts = form.into_inner();
                let name = self.next(&mut parts, form_span)?;
                let name = self.ident(&name);
                let arg = self.next(&mut parts, form_span)?;
                let arg = self.expr(arg)?;
                Some(match name.name.as_str() {
                    "stripe" => Verify::Stripe(arg),
                    "standard_webhooks" => Verify::StandardWebhooks(arg),
                    _ => Verify::Unknown(name),
                })
            }
            _ => {
                let name = self.next(&mut form.into_inner(), form_span)?;
                Some(Verify::Unknown(self.ident(&name)))
            }
        }
    }
}
